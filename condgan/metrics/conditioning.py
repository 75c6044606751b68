"""Does a generator honour the class it is asked for? A logistic-regression classifier trained on the run's
real images (pixels) classifies class-balanced generated samples; the fraction assigned to their conditioned
class is the conditioning accuracy. Cheap and independent of D, so it suits the small CPU runs (the digits main
job); `condgan evaluate --metrics accuracy` is the general, feature-network version."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UsageError


def conditioning_accuracy(run: str | Path, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(accuracy on generated samples, held-out accuracy of the classifier on real images)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    import condgan
    from condgan.config import config_from_dict
    from condgan.data import from_config
    from condgan.io import read_checkpoint, resolve_checkpoint

    cfg = config_from_dict(read_checkpoint(resolve_checkpoint(run))["config"])
    if not cfg.data.conditional:
        raise UsageError(f"{run} is an unconditional run (data.conditional=false): no class to check")
    real = from_config(cfg.data)  # the real images as the run saw them
    x = real.images.reshape(len(real), -1).astype(np.float32) / 255.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, real.labels, test_size=0.2, random_state=seed,
                                              stratify=real.labels)
    clf = LogisticRegression(max_iter=2000).fit(x_tr, y_tr)
    held_out = float(clf.score(x_te, y_te))
    clf = LogisticRegression(max_iter=2000).fit(x, real.labels)  # final classifier sees all real data

    gen = condgan.load(run)
    labels = np.arange(n) % gen.num_classes
    fake = gen.sample(labels, seed=seed).numpy().reshape(n, -1).astype(np.float32) / 255.0
    return float((clf.predict(fake) == labels).mean()), held_out
