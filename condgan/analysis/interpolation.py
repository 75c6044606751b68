"""Latent interpolation: what the generator draws between two latents of one class, and between two classes
at one latent (StudioGAN's `run_linear_interpolation`, fix_y and fix_z).

Both walk a straight line (linear interpolation, as StudioGAN and BigGAN do) and include the endpoints
exactly: frame 0 and the last frame are the images `sampler.sample([class], truncation, seed)` gives for
the endpoints, so a path can be read against the samples a user already knows. Across classes the class
*embedding* is interpolated (BigGAN's shared embedding, R3GAN's label embedding): G sees each blend in
place of one class's row, through a forward hook on that embedding, so no network code changes.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..sample import ConditionalSampler, to_uint8


def endpoint_latent(sampler: ConditionalSampler, seed: int, truncation: float | None) -> torch.Tensor:
    """The (1, z_dim) latent `sampler.sample([c], truncation, seed)` draws for one image."""
    return sampler.latents(1, truncation, torch.Generator().manual_seed(int(seed)))


def class_embedding(G: nn.Module) -> nn.Embedding:
    """G's class embedding: its one nn.Embedding child with a row per class (BigGAN `shared`, R3GAN `embed`)."""
    found = [m for m in G.children() if isinstance(m, nn.Embedding) and m.num_embeddings == G.num_classes]
    if G.num_classes < 2 or len(found) != 1:
        raise UsageError("This generator has no class embedding to interpolate (an unconditional model, or "
                         "an architecture without one); interpolate in z instead.")
    return found[0]


@contextlib.contextmanager
def embedding_rows(G: nn.Module, rows: torch.Tensor) -> Iterator[None]:
    """Inside the block, G's class embedding returns `rows` (one per image) whatever labels it is given."""
    handle = class_embedding(G).register_forward_hook(lambda module, args, out: rows.to(out.dtype))
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def generate(sampler: ConditionalSampler, z: torch.Tensor, labels: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """G(z, labels) as uint8 (N, H, W, C) on the CPU, in the sampler's precision (as `sampler.sample` runs G)."""
    official = sampler.precision == "official" and hasattr(sampler.G, "official_precision")
    with sampler.G.official_precision() if official else contextlib.nullcontext():
        out = [to_uint8(sampler.G(z[i:i + batch_size].to(sampler.device),
                                  labels[i:i + batch_size].to(sampler.device))).cpu()
               for i in range(0, len(z), batch_size)]
    return torch.cat(out)


def _weights(steps: int) -> torch.Tensor:
    if steps < 2:
        raise UsageError(f"An interpolation needs at least 2 frames, got {steps}.")
    return torch.linspace(0.0, 1.0, steps)[:, None]


def _check_class(sampler: ConditionalSampler, c: int) -> int:
    if not 0 <= int(c) < sampler.num_classes:
        raise UsageError(f"Class {c} is outside [0, {sampler.num_classes}) for this generator.")
    return int(c)


def interpolate_z(sampler: ConditionalSampler, cls: int, seed_a: int, seed_b: int, steps: int = 8,
                  truncation: float | None = None) -> torch.Tensor:
    """`steps` images of class `cls` along the line from seed_a's latent to seed_b's: uint8 (steps, H, W, C)."""
    cls = _check_class(sampler, cls)
    t = _weights(steps).to(sampler.device)
    za, zb = endpoint_latent(sampler, seed_a, truncation), endpoint_latent(sampler, seed_b, truncation)
    z = (1 - t) * za + t * zb  # exact at both ends: 1*za + 0*zb == za
    return generate(sampler, z, torch.full((steps,), cls, dtype=torch.long))


def interpolate_classes(sampler: ConditionalSampler, class_a: int, class_b: int, seed: int, steps: int = 8,
                        truncation: float | None = None) -> torch.Tensor:
    """`steps` images at seed's latent, the class embedding going from class_a's row to class_b's."""
    class_a, class_b = _check_class(sampler, class_a), _check_class(sampler, class_b)
    table = class_embedding(sampler.G).weight.detach()
    t = _weights(steps).to(table.device)
    rows = (1 - t) * table[class_a] + t * table[class_b]
    z = endpoint_latent(sampler, seed, truncation).expand(steps, -1)
    labels = torch.full((steps,), class_a, dtype=torch.long)  # replaced by `rows` in the embedding's output
    with embedding_rows(sampler.G, rows):
        return generate(sampler, z, labels)


def z_paths(sampler: ConditionalSampler, classes: list[int], steps: int = 8, truncation: float | None = None,
            seed: int = 0) -> np.ndarray:
    """The report's grid in z: one row per class, seeds (seed + 2r, seed + 2r + 1) for row r;
    uint8 (rows, steps, H, W, C)."""
    return np.stack([interpolate_z(sampler, c, seed + 2 * r, seed + 2 * r + 1, steps, truncation).numpy()
                     for r, c in enumerate(classes)])


def class_paths(sampler: ConditionalSampler, classes: list[int], steps: int = 8, truncation: float | None = None,
                seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The report's grid across classes: row r goes from classes[r] to classes[r + 1] at seed + r's latent;
    (uint8 (rows, steps, H, W, C), the class pairs)."""
    pairs = list(zip(classes[:-1], classes[1:]))
    return np.stack([interpolate_classes(sampler, a, b, seed + r, steps, truncation).numpy()
                     for r, (a, b) in enumerate(pairs)]), pairs


def write_figures(sampler: ConditionalSampler, out_dir: Path, classes: list[int], names: list[str] | None = None,
                  steps: int = 8, truncation: float | None = None, seed: int = 0) -> tuple[Path, Path | None]:
    """interpolation-z.png (one row per class) and, for a conditional generator with two or more classes
    shown, interpolation-class.png (one row per consecutive pair); returns their paths (None: not drawn)."""
    from .. import plots
    label = (lambda c: names[c]) if names else str
    cols = ["start"] + [""] * (steps - 2) + ["end"]
    trunc = f", truncation {truncation:g}" if truncation else ""
    z_png = plots.plot_image_rows(z_paths(sampler, classes, steps, truncation, seed), out_dir / "interpolation-z.png",
                                  f"In z at a fixed class: seed {seed} + 2r → seed {seed} + 2r + 1{trunc}",
                                  [label(c) for c in classes], cols)
    try:
        class_embedding(sampler.G)
    except UsageError:
        return z_png, None
    if len(classes) < 2:
        return z_png, None
    grid, pairs = class_paths(sampler, classes, steps, truncation, seed)
    class_png = plots.plot_image_rows(grid, out_dir / "interpolation-class.png",
                                      f"Across classes at a fixed z (seed {seed} + r){trunc}",
                                      [f"{label(a)} → {label(b)}" for a, b in pairs], cols)
    return z_png, class_png
