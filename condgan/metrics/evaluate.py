"""From images to numbers: run a feature network over real and generated images and compute the metrics.

Generated images stream from the generator straight into the feature network (nothing written to disk);
real-image features are cached on disk, keyed by a hash of the data and of the feature network.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from ..io import atomic_write
from . import registry

METRICS = registry.METRICS  # the metric registry (names -> how, keys, directions, needs)


@dataclass
class Features:
    pool: np.ndarray                 # (N, F) float64
    logits: np.ndarray | None        # (N, K) float64, when the network has a classifier
    labels: np.ndarray | None        # (N,) int64 class ids, when known
    images: np.ndarray | None = None  # (N, H, W, C) uint8, kept only when a metric needs pixels (MS-SSIM)


def network_fingerprint(net: nn.Module) -> str:
    """sha256 over the network's state (names, shapes, values): a cache key that changes with any weight."""
    h = hashlib.sha256(type(net).__name__.encode())
    h.update(str(getattr(net, "resize", "")).encode())
    for name, t in net.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def data_fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    h = hashlib.sha256(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels.astype(np.int64)).tobytes())
    return h.hexdigest()


@torch.no_grad()
def extract(net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]], device: torch.device,
            keep_images: bool = False) -> Features:
    """Run `net` over batches of (uint8 NCHW images, labels) and gather features in float64."""
    pools, logits, labels, images = [], [], [], []
    on_cpu = torch.device(device).type == "cpu"
    for x, y in batches:
        for part in x.split(50) if on_cpu else (x,):  # CPU: sub-batches of 50 stay in cache (~20% more images/s)
            out = net(part.to(device))
            pools.append(out["pool"].double().cpu())
            if out.get("logits") is not None:
                logits.append(out["logits"].double().cpu())
        if y is not None:
            labels.append(y.cpu().long())
        if keep_images:
            images.append(x.permute(0, 2, 3, 1).cpu())
    cat = lambda xs: torch.cat(xs).numpy() if xs else None  # noqa: E731
    return Features(cat(pools), cat(logits), cat(labels), cat(images))


def array_batches(images: np.ndarray, labels: np.ndarray | None, batch_size: int
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(N, H, W, C) uint8 array -> batches of uint8 NCHW tensors."""
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2)
        y = torch.from_numpy(labels[i:i + batch_size].astype(np.int64)) if labels is not None else None
        yield x, y


def generator_batches(sampler, num_samples: int, truncation: float | None, seed: int, batch_size: int,
                      shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Class-balanced labels (0, 1, ..., K-1, 0, ...) in a fixed order; each batch has its own seed.
    `shard=(rank, world_size)`: only batches rank, rank + world_size, ... (see `interleave`)."""
    labels = torch.arange(num_samples) % sampler.num_classes
    for b, i in enumerate(range(0, num_samples, batch_size)):
        if b % shard[1] != shard[0]:
            continue
        y = labels[i:i + batch_size]
        yield sampler.sample(y, truncation=truncation, seed=seed * 1_000_003 + b).permute(0, 3, 1, 2), y


def interleave(parts: list[Features], batch_size: int) -> Features:
    """Undo the sharding of `generator_batches`: part r holds batches r, r + W, ...; the result is in the
    order one process would have produced, so every metric (KID's subsets included) comes out the same."""
    parts = [p for p in parts if p.pool is not None]  # a process with no batch (fewer batches than processes)

    def rebuild(field: str) -> np.ndarray | None:
        arrays = [getattr(p, field) for p in parts]
        if any(a is None for a in arrays):
            return None
        chunks = [[a[i:i + batch_size] for i in range(0, len(a), batch_size)] for a in arrays]
        ordered = [c[b] for b in range(max(map(len, chunks))) for c in chunks if b < len(c)]
        return np.concatenate(ordered)
    return Features(*(rebuild(f) for f in ("pool", "logits", "labels", "images")))


def cached_real_features(net: nn.Module, images: np.ndarray, labels: np.ndarray | None, device: torch.device,
                         cache: Path | None, batch_size: int = 200) -> Features:
    """Real-image features, loaded from / saved to `cache` (atomically) under data and network hashes."""
    path = None
    if cache is not None:
        key = f"{data_fingerprint(images, labels)[:20]}-{network_fingerprint(net)[:20]}"
        path = Path(cache) / f"features-{key}.npz"
        if path.is_file():
            with np.load(path) as f:
                return Features(f["pool"], f["logits"] if "logits" in f else None,
                                f["labels"] if "labels" in f else None)
    feats = extract(net, array_batches(images, labels, batch_size), device)
    if path is not None:
        arrays = {k: v for k, v in (("pool", feats.pool), ("logits", feats.logits), ("labels", feats.labels))
                  if v is not None}
        atomic_write(path, lambda f: np.savez(f, **arrays))
    return feats


def read_image_set(source: str, data_cfg=None, split: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Images to evaluate: an .npz written by `condgan sample` (`images`, `labels`) or any data source.

    `data_cfg` (a run's `DataConfig`): a data source is read as the run saw it (`condgan.data.from_config`:
    split, resolution, one class when unconditional), and sampled labels become one class when unconditional.
    `split` ('train' or 'test') replaces that split (default: the run's, or 'train' without a run).
    """
    from ..data import DataError, from_config, load_images
    if source.endswith(".npz") and Path(source).is_file():
        with np.load(source) as f:
            if "images" in f.files:
                labels = f["labels"].astype(np.int64) if "labels" in f.files else None
                if labels is not None and data_cfg is not None and not data_cfg.conditional:
                    labels = np.zeros_like(labels)
                return f["images"], labels, source
    data = from_config(data_cfg, source=source, split=split) if data_cfg is not None else \
        load_images(source, split=split or "train")
    if data.images is None:
        raise DataError(f"'{source}' is too large to hold in memory for evaluation (more than "
                        f"data.max_resident_bytes decoded); evaluate a subset saved as an .npz.")
    return data.images, data.labels, data.source


def compute_metrics(real: Features, fake: Features, metrics: Iterable[str], *, fid_mode: str = "torch-fidelity",
                    conditional: bool | None = None, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The requested metrics from features (how each is computed, and what it needs, is `registry.METRICS`);
    keys as in `condgan evaluate --json`. `conditional=False` (an unconditional model) refuses the metrics that
    need classes; None: not known (two image sets)."""
    names = registry.parse(metrics)
    have = {n for n, ok in (("logits", fake.logits is not None), ("images", fake.images is not None),
                            ("labels", real.labels is not None and fake.labels is not None),
                            ("conditional", conditional is not False)) if ok}
    for m in names:
        registry.check_needs(m, have)
    opts = registry.Options(fid_mode=fid_mode)
    out: dict[str, Any] = {"num_real": len(real.pool), "num_fake": len(fake.pool)}
    for m in names:
        log(f"computing {m}")
        values = registry.METRICS[m].compute(real, fake, opts)
        undeclared = set(values) - set(registry.METRICS[m].keys)
        if undeclared:
            raise RuntimeError(f"metric '{m}' wrote {sorted(undeclared)}, which its registry entry does not declare")
        out.update(values)
    return out


def feature_network(evaluator: str, inception_weights: str | None, device: torch.device,
                    num_classes: int | None = None, fid_mode: str = "torch-fidelity") -> tuple[nn.Module, str]:
    """'inception' (FID Inception-v3; weights from --inception-weights, $CONDGAN_INCEPTION_WEIGHTS or the cache),
    'stacked-mnist' (the packaged MNIST classifier applied to each channel) or the path of a domain evaluator
    trained with `condgan evaluator train`. `fid_mode` ('torch-fidelity' or 'pytorch-fid') picks the
    Inception network's resize to 299 px, which moves FID noticeably: the features must be the reference's."""
    if evaluator == "inception":
        from .weights import load_feature_network
        net = load_feature_network(inception_weights, device=device, resize=fid_mode)
        return net, "inception" + (f" ({fid_mode} resize)" if fid_mode != "torch-fidelity" else "")
    if evaluator == "stacked-mnist":
        from .modes import StackedDigitFeatures, load_mnist_classifier
        return StackedDigitFeatures(load_mnist_classifier(device=device)).to(device), "stacked-mnist digits"
    from .evaluator import load_evaluator
    net, meta = load_evaluator(Path(evaluator), device=device)
    if num_classes is not None and net.num_classes != num_classes:
        print(f"note: evaluator '{evaluator}' has {net.num_classes} classes, the data {num_classes}; "
              "accuracy compares class ids as they are.")
    return net, f"evaluator {evaluator} (held-out accuracy {meta['held_out_accuracy']:.4f})"
