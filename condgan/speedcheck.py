"""Does the fast path learn what the plain path learns? Train a preset twice from the same seed, once with the
speed options (`train.channels_last`, `train.compile`, `train.precision`) and once with `train.plain=true`
(fp32, eager, NCHW, unfused Adam), and compare the loss curves. `scripts/check_fast_path.py` is its command
line; `tests/test_speed_options.py` and `benchmarks/gpu_check.py` call `compare`.

GAN training amplifies any numerical difference (a different summation order is enough), so the curves are
compared as running means over windows of `window` steps: the figure is the largest difference between the two
runs' windowed D and G losses, relative to the plain run's loss range.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

KEYS = ("D/loss", "G/loss")


def curves(run: Path, keys: tuple[str, ...] = KEYS) -> dict[str, np.ndarray]:
    """The logged values of `keys` from a run's stats.jsonl, in step order."""
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    rows = [r for r in rows if keys[0] in r]
    return {k: np.array([r[k] for r in rows]) for k in keys}


def windowed(x: np.ndarray, w: int) -> np.ndarray:
    """Means over consecutive, non-overlapping windows of `w` values."""
    return np.array([x[i:i + w].mean() for i in range(0, len(x) - w + 1, w)])


def compare(preset: str, overrides: list[str], steps: int, window: int, device: str) -> dict[str, float]:
    """Train `preset` with `overrides` (the fast path's options) and again with `train.plain=true`, logging
    every step; per loss: the largest windowed difference / the plain run's range, and the first step's
    difference."""
    import condgan
    from condgan.config import load_config
    common = [f"train.steps={steps}", "train.log_every=1", f"train.grid_every={steps}",
              f"train.ckpt_every={steps}", f"train.device={device}"]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, extra in (("fast", []), ("plain", ["train.plain=true"])):  # plain overrides every speed option
            runs[name] = Path(tmp) / name
            condgan.train(load_config(preset, [*overrides, *common, *extra]), runs[name], progress=False)
        fast, plain = curves(runs["fast"]), curves(runs["plain"])
    out = {}
    for k in KEYS:
        a, b = windowed(fast[k], window), windowed(plain[k], window)
        scale = max(float(np.ptp(plain[k])), 1e-8)
        out[f"{k} max windowed diff / range"] = float(np.abs(a - b).max() / scale)
        out[f"{k} first-step diff"] = float(abs(fast[k][0] - plain[k][0]))
    return out
