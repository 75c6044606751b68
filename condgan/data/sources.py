"""Read labelled images from any supported source into one type, `LabelledImages`; `from_config` gives the
data a config asks for (split, class count, resolution, conditional or not), the one data path that
training, `condgan bench` and `condgan evaluate` share.

The rest of the library never needs to know whether the data came from the embedded digits, a .npz
file, a folder of class folders, a CIFAR archive, Stacked MNIST, a prepared store, a StyleGAN dataset zip or a
StudioGAN HDF5 file (one module per format); every way the
input can be wrong is caught there, once, with a message that names the culprit.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import stacked_mnist
from .cifar import is_tar, read_cifar
from .digits import read_digits
from .errors import DataError
from .folder import read_folder
from .hdf5 import is_hdf5, read_hdf5
from .images import LabelledImages, finish
from .labels import without_labels
from .npz import read_npz
from .resize import with_resolution
from .store import is_store, read_store
from .stylegan import is_stylegan, read_stylegan

ACCEPTED = (
    "'digits' (the embedded 8x8 digits, upsampled to 32x32), a .npz file with arrays x and y, "
    "a directory with one sub-folder of images per class, a CIFAR-10/100 python archive "
    "(cifar-10-python.tar.gz / cifar-100-python.tar.gz), 'stacked-mnist:PATH' with PATH an MNIST .npz, "
    "a store written by `condgan prepare`, a StyleGAN/R3GAN dataset .zip (or folder with dataset.json), "
    "or a StudioGAN .hdf5 file"
)
MAX_RESIDENT_BYTES = 8 << 30  # the default of data.max_resident_bytes


def load_images(source: str | os.PathLike, *, split: str = "train", num_classes: int | None = None,
                max_resident_bytes: int = MAX_RESIDENT_BYTES) -> LabelledImages:
    """Load labelled images from `source`: 'digits', a .npz file, a class-folder directory, a CIFAR archive or
    'stacked-mnist:PATH' (1000-class Stacked MNIST drawn with a fixed seed from the MNIST .npz at PATH).

    `split` ('train' or 'test') matters for CIFAR, Stacked MNIST and npz files holding x_train/x_test; the
    other sources are a single set and ignore it. `num_classes`, if given, is checked against the labels and
    class names. A class-folder directory, StyleGAN dataset or HDF5 file larger than `max_resident_bytes` is
    not decoded but returned as `files`, to be streamed; a larger prepared store is memory-mapped. The string
    'digits' always means the embedded set; write './digits' for a folder of that name.
    """
    if split not in ("train", "test"):
        raise DataError(f"split={split!r} is not supported; use 'train' or 'test'")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):
        raise DataError(f"num_classes={num_classes!r} must be a positive integer or None (infer it)")
    if isinstance(source, str) and source == "digits":
        labels, names, images, where = read_digits()
        return finish(labels, names, num_classes, where, images=images)
    if isinstance(source, str) and source.startswith(stacked_mnist.PREFIX):
        labels, names, images, where = stacked_mnist.read_source(source.removeprefix(stacked_mnist.PREFIX), split)
        return finish(labels, names, num_classes, where, images=images)

    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {str(source)!r} does not exist; pass {ACCEPTED}")
    if is_store(path):
        labels, names, images = read_store(path, max_resident_bytes)
        return finish(labels, names, num_classes, str(path), images=images)
    if is_stylegan(path):
        labels, names, images, files, shape, reader = read_stylegan(path, max_resident_bytes, num_classes)
        return finish(labels, names, num_classes, str(path), images=images, files=files, shape=shape, reader=reader)
    if is_hdf5(path):
        labels, images, shape, reader = read_hdf5(path, max_resident_bytes, num_classes)
        return finish(labels, None, num_classes, str(path), images=images, shape=shape, reader=reader)
    if path.is_dir():
        labels, names, images, files, shape = read_folder(path, max_resident_bytes)
        return finish(labels, names, num_classes, str(path), images=images, files=files, shape=shape)
    if path.suffix.lower() == ".npz":
        labels, names, images = read_npz(path, split)
        return finish(labels, names, num_classes, str(path), images=images)
    if path.name.lower().endswith((".tar", ".tar.gz", ".tgz")) or is_tar(path):
        labels, names, images, where = read_cifar(path, split)
        return finish(labels, names, num_classes, where, images=images)
    raise DataError(f"don't know how to read {path}; pass {ACCEPTED}")


def from_config(data_cfg, *, source: str | os.PathLike | None = None, split: str | None = None) -> LabelledImages:
    """The data a `DataConfig` describes: `data.source` read at `data.split` (checked against
    `data.num_classes`, folders larger than `data.max_resident_bytes` left on disk), resized once to
    `data.resolution`, and as one class when `data.conditional` is false. `source` / `split` replace the
    configured ones (e.g. `condgan evaluate --real`, or the test split)."""
    data = load_images(data_cfg.source if source is None else source, split=split or data_cfg.split,
                       num_classes=data_cfg.num_classes, max_resident_bytes=data_cfg.max_resident_bytes)
    data = with_resolution(data, data_cfg.resolution)
    return data if data_cfg.conditional else without_labels(data)
