"""Stacked MNIST (Metz et al., 2017): three random MNIST digits stacked as the R, G and B channels, giving
1000 equally likely modes (000..999). A generator's mode coverage is counted with a digit classifier
(`condgan.metrics.modes`), which makes mode dropping measurable.

As in the benchmark R3GAN reports against (DDGAN's `stackmnist_data.py`), each 28x28 digit is zero-padded by
2 px to 32x32, not resized, and the label is 100 * d_R + 10 * d_G + d_B.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError
from .npz import read_npz

MNIST_SIZE = 28
PADDED_SIZE = 32
PREFIX = "stacked-mnist:"  # the data source 'stacked-mnist:PATH'
DRAWS = {"train": (60000, 0), "test": (10000, 1)}  # split -> (images, seed): fixed, reproducible


def pad_digits(images: np.ndarray, resolution: int = PADDED_SIZE) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, resolution, resolution): zero-pad to 32x32, then resize if another size is asked.

    Also the way to prepare MNIST for the digit classifier, so that it sees digits as they appear stacked.
    """
    if images.ndim != 3 or images.shape[1:] != (MNIST_SIZE, MNIST_SIZE) or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, 28, 28) MNIST digits, got {images.dtype} {images.shape}")
    if resolution < 1:
        raise ValueError(f"resolution={resolution} must be a positive number of pixels")
    p = (PADDED_SIZE - MNIST_SIZE) // 2
    out = np.pad(images, ((0, 0), (p, p), (p, p)))
    if resolution != PADDED_SIZE:
        x = torch.from_numpy(out)[:, None].float()
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out = x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def stack_mnist(images: np.ndarray, labels: np.ndarray, n: int, seed: int, resolution: int = PADDED_SIZE
                ) -> tuple[np.ndarray, np.ndarray]:
    """Draw n samples of three independent uniformly random digits (with replacement) as R, G, B.

    Returns x uint8 (n, 3, resolution, resolution) and y int64 (n,) = 100 * d_R + 10 * d_G + d_B.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels have shape {labels.shape}; expected ({len(images)},), one per image")
    if len(images) == 0 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels must be MNIST digits 0..9 and there must be at least one image")
    if n < 0:
        raise ValueError(f"n={n} must be >= 0 (the number of stacked images to draw)")
    digits = pad_digits(images, resolution)
    idx = np.random.default_rng(seed).integers(0, len(images), size=(n, 3))
    x = digits[idx]  # (n, 3, res, res): channel c holds digit idx[:, c]
    d = labels[idx].astype(np.int64)
    return np.ascontiguousarray(x), 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


def read_stacked_mnist(path: str | os.PathLike, n: int, seed: int, *, split: str = "train",
                       resolution: int = PADDED_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Stack digits from an MNIST .npz holding x_train/y_train (and x_test/y_test for split='test')."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"MNIST file {str(path)!r} for Stacked MNIST does not exist; pass an .npz with "
                        f"x_train (N, 28, 28) uint8 and y_train, as stacked-mnist:PATH/mnist.npz")
    labels, _, images = read_npz(path, split)  # the npz checks and messages
    if images.shape[1:] != (MNIST_SIZE, MNIST_SIZE, 1):
        raise DataError(f"{path} holds images of shape {images.shape[1:]}; Stacked MNIST needs grayscale "
                        f"28x28 MNIST digits")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path} has labels outside 0..9 ({labels.min()}..{labels.max()}); is it MNIST?")
    return stack_mnist(images[..., 0], labels, n, seed, resolution)


def read_source(path: str, split: str) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """The data source 'stacked-mnist:PATH': the split's fixed draw as (labels, class names, NHWC images, origin)."""
    if not path:
        raise DataError(f"data source {PREFIX!r} names no file; write {PREFIX}PATH/mnist.npz")
    n, seed = DRAWS[split]
    x, y = read_stacked_mnist(path, n, seed, split=split)
    images = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    where = f"{PREFIX}{path} ({split}, {n} images, seed {seed})"
    return y, [f"{k:03d}" for k in range(1000)], images, where
