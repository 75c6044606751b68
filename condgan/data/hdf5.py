"""StudioGAN's HDF5 training files (`src/utils/hdf5.py: make_hdf5`, e.g. `ImageNet_128_lanczos_train.hdf5`):
dataset `imgs`, uint8 (N, H, W, 3), and dataset `labels`, int64 (N,).

Read as StudioGAN's `Dataset_` reads them (`imgs[i]`, `int(labels[i])`), so the labels are those its
training sees. The NCHW layout of BigGAN-PyTorch's `make_hdf5.py` (which StudioGAN's is borrowed from) is
recognised too. Needs `h5py` (the `hdf5` extra: `pip install condgan[hdf5]`); a missing dataset, a wrong
dtype or shape, or a negative label is a one-line error naming it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import DataError

SUFFIXES = (".hdf5", ".h5")


def is_hdf5(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SUFFIXES


def _h5py():
    try:
        import h5py
    except ImportError:
        raise DataError("reading an HDF5 file needs h5py, which is not installed: pip install h5py "
                        "(or condgan[hdf5])") from None
    return h5py


def read_hdf5(path: Path, max_resident_bytes: int, num_classes: int | None = None):
    """(labels, images or None, shape, reader or None): images in memory when they fit, else a reader."""
    reader = HDF5Reader(path)
    f = reader.file()
    labels = np.asarray(f["labels"][:])
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: dataset 'labels' is {labels.dtype}, expected integers (int64, as StudioGAN "
                        f"writes)")
    bad = np.flatnonzero((labels < 0) | ((labels >= num_classes) if num_classes is not None else False))
    if len(bad):
        i = int(bad[0])
        bound = f"[0, {num_classes})" if num_classes is not None else "0 or more"
        raise DataError(f"{path}: labels[{i}] is {labels[i]}, outside {bound}")
    n, (h, w, c) = reader.count, reader.shape
    if n * h * w * c > max_resident_bytes:
        return labels.astype(np.int64), None, reader.shape, reader
    images = np.empty((n, h, w, c), np.uint8)
    imgs = f["imgs"]
    for i in range(0, n, 4096):  # chunked: never a second full copy in memory
        part = imgs[i:i + 4096]
        images[i:i + 4096] = part.transpose(0, 2, 3, 1) if reader.nchw else part
    return labels.astype(np.int64), images, reader.shape, None


class HDF5Reader:
    """Image i of the file as uint8 HxWxC; picklable, and opens the file once per process."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file, self._pid = None, None
        f = self.file()
        missing = [k for k in ("imgs", "labels") if k not in f]
        if missing:
            raise DataError(f"{path} has no dataset '{missing[0]}' (it has {sorted(f.keys())}); StudioGAN's HDF5 "
                            f"files hold 'imgs' (uint8 N x H x W x 3) and 'labels' (int64 N)")
        imgs, labels = f["imgs"], f["labels"]
        if imgs.dtype != np.uint8:
            raise DataError(f"{path}: dataset 'imgs' is {imgs.dtype}, expected uint8")
        if imgs.ndim != 4 or not (imgs.shape[3] in (1, 3) or imgs.shape[1] in (1, 3)):
            raise DataError(f"{path}: dataset 'imgs' has shape {imgs.shape}, expected N x H x W x C with C = 1 or 3")
        if labels.shape != (imgs.shape[0],):
            raise DataError(f"{path}: dataset 'labels' has shape {labels.shape} but 'imgs' holds {imgs.shape[0]} "
                            f"images; expected ({imgs.shape[0]},)")
        if imgs.shape[0] == 0:
            raise DataError(f"{path}: dataset 'imgs' is empty")
        self.nchw = imgs.shape[3] not in (1, 3)  # BigGAN-PyTorch's layout
        n, a, b, c = imgs.shape
        self.count, self.shape = n, ((b, c, a) if self.nchw else (a, b, c))

    def file(self):
        if self._file is None or self._pid != os.getpid():  # HDF5 handles must not cross a fork
            h5py = _h5py()
            try:
                self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            except OSError as e:
                raise DataError(f"{self.path} is not a readable HDF5 file ({e})") from e
        return self._file

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_pid": None}

    def __call__(self, i: int) -> np.ndarray:
        a = self.file()["imgs"][i]
        return np.ascontiguousarray(a.transpose(1, 2, 0)) if self.nchw else a
