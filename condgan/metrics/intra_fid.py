"""Intra-class FID (Miyato & Koyama 2018): FID between real and fake features of each class.

It measures per-class fidelity and diversity, which plain FID hides when a conditional
generator mixes classes up. The result is the per-class FIDs and their unweighted mean.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .fid import Mode, feature_statistics, frechet_distance


def intra_class_fid(
    real: np.ndarray,
    real_labels: np.ndarray,
    fake: np.ndarray,
    fake_labels: np.ndarray,
    classes: Iterable[int] | None = None,
    mode: Mode = "torch-fidelity",
) -> dict:
    """``{"per_class": {class_id: fid}, "mean": float}`` over ``classes`` (default: all real labels).

    Raises ValueError naming the class when a class has fewer than 2 real or fake samples
    (a covariance needs at least 2).
    """
    real, fake = np.asarray(real), np.asarray(fake)
    real_labels, fake_labels = np.asarray(real_labels).reshape(-1), np.asarray(fake_labels).reshape(-1)
    if len(real_labels) != len(real) or len(fake_labels) != len(fake):
        raise ValueError("labels must have one entry per feature row")
    classes = np.unique(real_labels) if classes is None else list(classes)
    per_class: dict[int, float] = {}
    for c in classes:
        r, f = real[real_labels == c], fake[fake_labels == c]
        if len(r) < 2 or len(f) < 2:
            raise ValueError(f"class {int(c)} has {len(r)} real and {len(f)} fake samples; need at least 2 each")
        per_class[int(c)] = frechet_distance(*feature_statistics(r), *feature_statistics(f), mode=mode)
    if not per_class:
        raise ValueError("no classes to evaluate")
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values())))}
