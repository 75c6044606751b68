"""Does the fast path learn what the plain path learns? Train a preset twice from the same seed, once with the
speed options (`train.channels_last`, `train.compile`, `train.precision`) and once with `train.plain=true`
(fp32, eager, NCHW, unfused Adam), and compare the loss curves.

    python scripts/check_fast_path.py --preset digits --steps 200 train.channels_last=true
    python scripts/check_fast_path.py --preset cifar10-biggan --steps 200 --device cuda train.precision=bf16 \\
        train.channels_last=true train.compile=default data.source=cifar-10-python.tar.gz

GAN training amplifies any numerical difference (a different summation order is enough), so the curves are
compared as running means over windows of `--window` steps: the figure printed is the largest difference
between the two runs' windowed D and G losses, relative to the plain run's loss range.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import condgan
from condgan.config import load_config


def curves(run: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    rows = [r for r in rows if keys[0] in r]
    return {k: np.array([r[k] for r in rows]) for k in keys}


def windowed(x: np.ndarray, w: int) -> np.ndarray:
    return np.array([x[i:i + w].mean() for i in range(0, len(x) - w + 1, w)])


def compare(preset: str, overrides: list[str], steps: int, window: int, device: str) -> dict[str, float]:
    keys = ("D/loss", "G/loss")
    common = [f"train.steps={steps}", "train.log_every=1", f"train.grid_every={steps}",
              f"train.ckpt_every={steps}", f"train.device={device}"]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, extra in (("fast", []), ("plain", ["train.plain=true"])):  # plain overrides every speed option
            runs[name] = Path(tmp) / name
            condgan.train(load_config(preset, [*overrides, *common, *extra]), runs[name], progress=False)
        fast, plain = curves(runs["fast"], keys), curves(runs["plain"], keys)
    out = {}
    for k in keys:
        a, b = windowed(fast[k], window), windowed(plain[k], window)
        scale = max(float(np.ptp(plain[k])), 1e-8)
        out[f"{k} max windowed diff / range"] = float(np.abs(a - b).max() / scale)
        out[f"{k} first-step diff"] = float(abs(fast[k][0] - plain[k][0]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="digits")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("overrides", nargs="*", help="the fast path's options, key=value")
    args = p.parse_args()
    for k, v in compare(args.preset, args.overrides, args.steps, args.window, args.device).items():
        print(f"{k:>40}: {v:.4g}")


if __name__ == "__main__":
    main()
