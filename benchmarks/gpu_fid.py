"""FID-10k of the GPU run's quality-clock samples, computed on the CPU machine (the FID Inception weights, 81 MB,
cannot travel to the GPU; the samples come back instead).

    python -m benchmarks.gpu_fid RESULTS_DIR [--data ../shared/data/cifar10_jpeg_bytes.npz] [--json OUT.json]

RESULTS_DIR holds `quality-samples-*.npz` (`images`, `labels`) from `benchmarks.gpu_check`. The reference is
the 50,000 CIFAR-10 training images of the JPEG copy (decoded here exactly as on the GPU), in condgan's FID
Inception (torch-fidelity's pre-processing); their features are cached in $CONDGAN_CACHE/stats, so only the
first call pays for them. The JPEG copy is lossy: compare with StudioGAN's curve only as a first point.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .gpu_check import decode_jpeg_split
from .prepare_gpu_carry import DEFAULT_SRC


def load_samples(results: Path) -> tuple[np.ndarray, np.ndarray]:
    parts = sorted(results.glob("quality-samples-*.npz"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not parts:
        raise SystemExit(f"gpu_fid: no quality-samples-*.npz in '{results}'")
    images, labels = [], []
    for p in parts:
        with np.load(p) as f:
            images.append(f["images"])
            labels.append(f["labels"])
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="the folder the GPU run's files came back to")
    p.add_argument("--data", default=str(DEFAULT_SRC), help="cifar10_jpeg_bytes.npz (default ../shared/data/)")
    p.add_argument("--inception-weights", help="see `condgan evaluate --inception-weights`")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)

    import torch

    from condgan.metrics.evaluate import Features, array_batches, cached_real_features, extract
    from condgan.metrics.fid import fid_from_features
    from condgan.metrics.weights import cache_dir, load_feature_network
    fake_images, fake_labels = load_samples(Path(args.results))
    with np.load(args.data) as f:
        packed = {k: f[k] for k in ("train_jpeg", "train_offsets", "y_train")}
    real_images, real_labels = decode_jpeg_split(packed, "train"), packed["y_train"].astype(np.int64)
    device = torch.device(args.device)
    net = load_feature_network(args.inception_weights, device=device)
    real = cached_real_features(net, real_images, real_labels, device, cache_dir() / "stats", args.batch_size)
    fake: Features = extract(net, array_batches(fake_images, fake_labels, args.batch_size), device)
    result = {"fid": fid_from_features(real.pool, fake.pool), "samples": int(len(fake_images)),
              "reference": f"{len(real_images)} CIFAR-10 train images (JPEG copy {Path(args.data).name})",
              "results": str(args.results)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
