"""Sampling: the truncation trick, a loaded generator with `sample()`, and writing images out."""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from PIL import Image

from .errors import UsageError
from .io import atomic_write


def truncated_normal(shape: Sequence[int], threshold: float | None, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """N(0, 1) samples; with a threshold, every value with |v| > threshold is redrawn until none is left
    (BigGAN's truncation trick). threshold None or <= 0 means no truncation."""
    z = torch.randn(*shape, generator=generator, device=device)
    if threshold is None or threshold <= 0:
        return z
    while True:
        bad = z.abs() > threshold
        n_bad = int(bad.sum())
        if n_bad == 0:
            return z
        z[bad] = torch.randn(n_bad, generator=generator, device=device)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8, rounding to nearest."""
    return (x.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def make_grid(images: np.ndarray, rows: int, pad: int = 1) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*H, cols*W, C) image with `pad` white pixels between cells."""
    n, h, w, c = images.shape
    cols = math.ceil(n / rows)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = img
    return grid


def save_png(image: np.ndarray, path: Path) -> None:
    """(H, W, C) uint8 -> PNG (grayscale when C == 1), written atomically."""
    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    atomic_write(path, lambda f: pil.save(f, format="PNG"))


class ConditionalSampler:
    """A trained generator ready to sample: `sample(labels, truncation=None, seed=None)`.

    Returned by `condgan.load()`. Images come back as uint8 (N, H, W, C) tensors on the CPU. `precision`
    "official" runs G in the mixed precision its source ran it in (`G.official_precision()`, e.g. R3GAN's bf16
    stages); "fp32" (the default) computes everything in fp32.
    """

    def __init__(self, G: nn.Module, class_names: list[str], device: torch.device, step: int = 0,
                 precision: str = "fp32"):
        if precision not in ("fp32", "official"):
            raise UsageError(f"precision '{precision}': use fp32 or official.")
        self.G = G.eval().requires_grad_(False)
        self.class_names, self.device, self.step, self.precision = list(class_names), device, step, precision
        self.num_classes, self.z_dim = G.num_classes, G.z_dim
        self.resolution, self.channels = G.resolution, G.channels

    def latents(self, n: int, truncation: float | None, generator: torch.Generator | None) -> torch.Tensor:
        return truncated_normal((n, self.z_dim), truncation, generator, "cpu").to(self.device)

    @torch.no_grad()
    def sample(self, labels: Sequence[int] | torch.Tensor | int, truncation: float | None = None,
               seed: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """Generate one image per label (an int n means n class-balanced labels 0, 1, ..., K-1, 0, ...)."""
        if isinstance(labels, int):
            labels = torch.arange(labels) % self.num_classes
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if len(bad):
            raise UsageError(f"Class {int(bad[0])} is outside [0, {self.num_classes}) for this generator.")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.latents(len(labels), truncation, gen)
        official = self.precision == "official" and hasattr(self.G, "official_precision")
        with self.G.official_precision() if official else contextlib.nullcontext():
            out = [to_uint8(self.G(z[i:i + batch_size], labels[i:i + batch_size].to(self.device))).cpu()
                   for i in range(0, len(labels), batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.resolution, self.resolution, self.channels,
                                                        dtype=torch.uint8)

    def class_grid(self, classes: Sequence[int], per_class: int, truncation: float | None = None,
                   seed: int = 0) -> np.ndarray:
        """One row per class: the per-class sample grid written during training and by `condgan sample`."""
        labels = torch.tensor(classes).repeat_interleave(per_class)
        images = self.sample(labels, truncation=truncation, seed=seed).numpy()
        return make_grid(images, rows=len(classes))


def write_samples(images: torch.Tensor, labels: torch.Tensor, out: Path, rows: int | None = None) -> None:
    """Write images to `out`: FILE.npz (images + labels), FILE.png (a grid), or a folder of PNGs."""
    out = Path(out)
    imgs = images.numpy()
    if out.suffix == ".npz":
        atomic_write(out, lambda f: np.savez(f, images=imgs, labels=labels.numpy().astype(np.int64)))
    elif out.suffix == ".png":
        save_png(make_grid(imgs, rows=rows or max(1, int(math.sqrt(len(imgs))))), out)
    elif out.suffix:
        raise UsageError(f"Output '{out}': use a .png (grid), .npz (arrays) or a folder name.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, (img, y) in enumerate(zip(imgs, labels.tolist())):
            save_png(img, out / f"{i:06d}-class{y}.png")
