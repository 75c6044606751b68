"""Does a generator honour the class it is asked for? A logistic-regression classifier trained on the run's
real images (pixels) classifies class-balanced generated samples; the fraction assigned to their conditioned
class is the conditioning accuracy. Cheap and independent of D, so it suits the small CPU runs (the digits main
job); `condgan evaluate --metrics accuracy` is the general, feature-network version."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from ..errors import UsageError


@functools.lru_cache(maxsize=4)
def pixel_classifier(data_key: tuple, seed: int = 0):
    """(classifier fitted on all real images, its held-out accuracy on a stratified 20% split) for the data
    section given as `data_key` (a tuple of its fields); cached, as runs on the same data share it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from ..config import DataConfig
    from ..data import from_config
    real = from_config(DataConfig(*data_key))  # the real images as the run saw them
    x = real.images.reshape(len(real), -1).astype(np.float32) / 255.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, real.labels, test_size=0.2, random_state=seed,
                                              stratify=real.labels)
    held_out = float(LogisticRegression(max_iter=2000).fit(x_tr, y_tr).score(x_te, y_te))
    return LogisticRegression(max_iter=2000).fit(x, real.labels), held_out  # the final one sees all real data


def conditioning_accuracy(run: str | Path, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(accuracy on generated samples, held-out accuracy of the classifier on real images)."""
    import condgan
    from condgan.config import config_from_dict
    from condgan.io import read_checkpoint, resolve_checkpoint

    cfg = config_from_dict(read_checkpoint(resolve_checkpoint(run))["config"])
    if not cfg.data.conditional:
        raise UsageError(f"{run} is an unconditional run (data.conditional=false): no class to check")
    clf, held_out = pixel_classifier(dataclasses.astuple(cfg.data), seed)
    gen = condgan.load(run)
    labels = np.arange(n) % gen.num_classes
    fake = gen.sample(labels, seed=seed).numpy().reshape(n, -1).astype(np.float32) / 255.0
    return float((clf.predict(fake) == labels).mean()), held_out
