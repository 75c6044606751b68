"""`LabelledImages`, the one type every data source is read into, and the label checks they all share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import DataError


@dataclass
class LabelledImages:
    """N images with integer class labels, held in memory (`images`), memory-mapped from a prepared store
    (`images` is then an `np.memmap`), or left on disk (`files`): image paths, or member names that `reader`
    (i -> uint8 HxWxC, picklable for DataLoader workers) decodes, for archives such as a StyleGAN zip."""

    labels: np.ndarray  # int64, (N,)
    class_names: list[str]  # len == num_classes
    images: np.ndarray | None  # uint8, (N, H, W, C) when held in memory
    files: list[str] | None  # image paths when streamed from disk instead (then images is None)
    shape: tuple[int, int, int]  # (H, W, C) of every image
    source: str  # human-readable origin, for messages and logs
    reader: Callable[[int], np.ndarray] | None = None  # decodes item i when `files` are not plain image paths

    def __post_init__(self) -> None:
        if (self.images is None) == (self.files is None and self.reader is None):
            raise ValueError("LabelledImages needs exactly one of images and files (or a reader)")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def resolution(self) -> int:
        return self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[2]

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # the dataclass default would print the pixels
        where = ("memory-mapped" if isinstance(self.images, np.memmap) else
                 "in memory" if self.images is not None else "on disk")
        return (f"LabelledImages({self.source!r}, {len(self)} images of {self.shape}, "
                f"{self.num_classes} classes, {where})")


def finish(labels: np.ndarray, class_names: list[str] | None, num_classes: int | None, where: str, *,
            images: np.ndarray | None = None, files: list[str] | None = None,
            shape: tuple[int, int, int] | None = None,
            reader: Callable[[int], np.ndarray] | None = None) -> LabelledImages:
    """Check labels against the class count (however it was given) and assemble the result."""
    if class_names is not None and num_classes is not None and len(class_names) != num_classes:
        raise DataError(f"{where} has {len(class_names)} classes but num_classes={num_classes}; "
                        f"leave num_classes unset or make the two agree")
    if num_classes is not None:
        k, origin = int(num_classes), "num_classes"
    elif class_names is not None:
        k, origin = len(class_names), "len(class_names)"
    else:
        k, origin = int(labels.max()) + 1, "max label + 1"
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{where}: label {labels[i]} at index {i} is outside [0, {k}) ({k} = {origin}); "
                        f"labels must be class ids 0..{k - 1}: fix the labels or pass a larger num_classes")
    if class_names is None:
        class_names = [str(c) for c in range(k)]
    if shape is None:
        shape = tuple(images.shape[1:])
    return LabelledImages(labels=labels.astype(np.int64), class_names=list(class_names), images=images,
                          files=files, shape=shape, source=where, reader=reader)
