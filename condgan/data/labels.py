"""Label handling that does not depend on where the images came from."""
from __future__ import annotations

import dataclasses

import numpy as np

from .images import LabelledImages


def without_labels(data: LabelledImages) -> LabelledImages:
    """The same images as one class: how an unconditional model is trained on labelled data (e.g. Stacked
    MNIST, whose 1,000 labels are kept for counting modes, not for conditioning)."""
    return dataclasses.replace(data, labels=np.zeros(len(data), dtype=np.int64), class_names=["all"])
