"""Nearest neighbours: for generated samples, the closest training images in a feature space, to show
memorisation or its absence (StudioGAN's `run_k_nearest_neighbor`, which uses ResNet-50 features).

A generator that copies its training set shows neighbours that are the sample itself (distance ~0); a
healthy one shows similar but different images. The feature space is the evaluator's (the FID Inception
network, or a domain evaluator from `condgan evaluator train`, whose features the metrics use), or raw
pixels when no evaluator is available: pixel distance is the classic memorisation check, and is honest
about being one. Distances are Euclidean; real features are cached like `condgan evaluate`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CondganError


class PixelFeatures(nn.Module):
    """The identity feature map: uint8 images -> their pixels in [0, 1], flattened."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pool": images.flatten(1).float() / 255.0}


def feature_space(evaluator: str, device: torch.device, run_evaluator: str | None = None,
                  num_classes: int | None = None) -> tuple[nn.Module, str]:
    """(network, description) for `evaluator`: 'pixels', 'inception', a domain evaluator file, or 'auto':
    the run's own `train.evaluator` when it is a file here, else Inception when its weights are installed,
    else pixels (the description says which)."""
    from ..metrics.evaluate import feature_network
    if evaluator == "pixels":
        return PixelFeatures(), "pixels"
    if evaluator != "auto":
        return feature_network(evaluator, None, device, num_classes)
    if run_evaluator and run_evaluator != "inception" and Path(run_evaluator).is_file():
        return feature_network(run_evaluator, None, device, num_classes)
    try:
        return feature_network("inception", None, device)
    except CondganError:  # no weights installed: say so in the description, do not fail the report
        return PixelFeatures(), "pixels (no Inception weights installed and no domain evaluator given)"


def nearest(query: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (N, k) into `reference` of each query row's k nearest rows, nearest first, and their
    Euclidean distances (N, k). Computed in float64, in chunks of the reference (memory stays small)."""
    q = torch.as_tensor(np.asarray(query), dtype=torch.float64)
    best_d = torch.full((len(q), 0), 0.0, dtype=torch.float64)
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    k = min(k, len(reference))
    for start in range(0, len(reference), 8192):
        r = torch.as_tensor(np.asarray(reference[start:start + 8192]), dtype=torch.float64)
        d = torch.cdist(q, r)
        best_d = torch.cat([best_d, d], dim=1)
        best_i = torch.cat([best_i, torch.arange(start, start + len(r)).expand(len(q), -1)], dim=1)
        best_d, order = best_d.topk(k, dim=1, largest=False, sorted=True)
        best_i = best_i.gather(1, order)
    return best_i.numpy(), best_d.numpy()


@dataclass
class Neighbours:
    queries: np.ndarray           # (N, H, W, C) uint8: the generated samples
    query_labels: np.ndarray      # (N,) their classes
    images: np.ndarray            # (N, k, H, W, C) uint8: their nearest training images, nearest first
    indices: np.ndarray           # (N, k) indices of those into the training images
    distances: np.ndarray         # (N, k) Euclidean distances in the feature space
    feature_space: str


def _features(net: nn.Module, images: np.ndarray, device: torch.device, cache: Path | None = None) -> np.ndarray:
    from ..metrics.evaluate import array_batches, cached_real_features, extract
    if cache is not None and not isinstance(net, PixelFeatures):
        return cached_real_features(net, images, None, device, cache).pool
    return extract(net.to(device), array_batches(images, None, 200), device).pool


def nearest_training_images(queries: np.ndarray, query_labels: np.ndarray, real_images: np.ndarray,
                            net: nn.Module, description: str, device: torch.device, k: int = 5,
                            cache: Path | None = None) -> Neighbours:
    """The k training images nearest each query image (uint8 (N, H, W, C)) in `net`'s features."""
    ref = _features(net, real_images, device, cache)
    q = _features(net, queries, device)
    idx, dist = nearest(q, ref, k)
    return Neighbours(queries, np.asarray(query_labels), real_images[idx], idx, dist, description)


def subset(images: np.ndarray, labels: np.ndarray | None, limit: int, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """At most `limit` of the training images, a fixed random choice in their original order (keeps the
    search and its feature extraction small on large datasets)."""
    if len(images) <= limit:
        return images, labels
    keep = np.sort(np.random.default_rng(seed).choice(len(images), limit, replace=False))
    return images[keep], (labels[keep] if labels is not None else None)


def write_figure(sampler, real_images: np.ndarray, out_dir: Path, classes: list[int], net: nn.Module,
                 description: str, names: list[str] | None = None, k: int = 5, seed: int = 0,
                 truncation: float | None = None, cache: Path | None = None) -> tuple[Path, Neighbours]:
    """neighbours.png: one generated sample per class in `classes` (seed `seed`) and its k nearest training
    images; returns the path and the numbers behind it."""
    from .. import plots
    queries = sampler.sample(classes, truncation=truncation, seed=seed).numpy()
    nb = nearest_training_images(queries, np.asarray(classes), real_images, net, description, sampler.device, k, cache)
    labels = [names[c] if names else str(c) for c in classes]
    return plots.plot_neighbours(nb.queries, nb.images, nb.distances, labels, out_dir / "neighbours.png",
                                 description), nb
