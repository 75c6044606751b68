"""Does the generator honour the class it is asked for?

Trains a logistic-regression classifier on the real training images only, then classifies 1,000
class-balanced generated samples and prints the fraction assigned to their conditioned class.

    python scripts/check_conditioning.py runs/digits [--n 1000]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def conditioning_accuracy(run: str, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(accuracy on generated samples, held-out accuracy of the classifier on real images)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    import condgan
    from condgan.config import config_from_dict
    from condgan.data import from_config
    from condgan.io import read_checkpoint, resolve_checkpoint

    cfg = config_from_dict(read_checkpoint(resolve_checkpoint(run))["config"])
    if not cfg.data.conditional:
        raise SystemExit(f"{run} is an unconditional run (data.conditional=false): no class to check")
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder or checkpoint")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    acc, held_out = conditioning_accuracy(args.run, args.n)
    print(f"classifier held-out accuracy on real images: {held_out:.3f}")
    print(f"generated samples classified as their conditioned class: {acc:.3f} ({args.n} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
