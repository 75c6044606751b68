"""Resizing a whole in-memory dataset once, before training (never per step)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F


def resize_images(images: np.ndarray, resolution: int, batch: int = 1024) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, resolution, resolution, C) uint8, antialiased bilinear (area-like when
    shrinking), in float32 batches to bound memory."""
    out = np.empty((len(images), resolution, resolution, images.shape[3]), dtype=np.uint8)
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out[i:i + batch] = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def with_resolution(data, resolution: int | None):
    """Return `data` (a LabelledImages) resized to `resolution` if it differs; streamed data cannot be."""
    if resolution is None or resolution == data.resolution and data.shape[1] == resolution:
        return data
    if data.images is None or isinstance(data.images, np.memmap):
        from .errors import DataError
        raise DataError(f"data.resolution={resolution}: '{data.source}' is read from disk and is "
                        f"{data.shape[0]}x{data.shape[1]}; make a store at that size (condgan prepare SOURCE "
                        f"--out DEST --resolution {resolution}) or drop data.resolution.")
    images = resize_images(data.images, resolution)
    return dataclasses.replace(data, images=images, shape=(resolution, resolution, data.shape[2]))
