"""`condgan bench`: how fast does one training step of a preset run on this device?"""
from __future__ import annotations

import resource
from typing import Any

import numpy as np
import torch

from .config import load_config

# Dense peak TFLOP/s by device name and precision (vendor data sheets): the denominator of MFU.
PEAK_TFLOPS = {
    "H200": {"bf16": 989.0, "fp32": 67.0},
    "H100": {"bf16": 989.0, "fp32": 67.0},   # SXM; the PCIe card is 756 / 51
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "L40S": {"bf16": 362.0, "fp32": 91.6},
    "RTX 4090": {"bf16": 165.0, "fp32": 82.6},
}


def peak_tflops(device_name: str, precision: str) -> float | None:
    for key, peaks in PEAK_TFLOPS.items():
        if key in device_name:
            return peaks[precision]
    return None


def step_flops(t, loader) -> int:
    """FLOPs of one training step (its D steps and G step, forward, backward and R1/R2's double backward),
    from the matmuls and convolutions actually dispatched, priced by `torch.utils.flop_counter`'s formulas.

    Why not `FlopCounterMode` itself: its per-module tracking hooks refuse `torch.autograd.grad` on a leaf,
    which is exactly what the gradient penalties do.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    from .training.loop import train_step

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Count.total += formula(*args, **kwargs, out_val=out)
            return out
    with Count():
        train_step(t, loader)
    return Count.total


def _bench_data(cfg):
    """The preset's data as training would see it (`condgan.data.from_config`) when it can be read here, else
    random images of the preset's shape and class count (one class when unconditional)."""
    from .data import DataError, LabelledImages, from_config
    try:
        return from_config(cfg.data), "real"
    except DataError:
        res = cfg.data.resolution or 32
        k = (cfg.data.num_classes or 10) if cfg.data.conditional else 1
        n = max(4 * cfg.train.batch_size, 1024)
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (n, res, res, 3), dtype=np.uint8)
        labels = (np.arange(n) % k).astype(np.int64)
        return LabelledImages(labels=labels, class_names=[str(i) for i in range(k)], images=images, files=None,
                              shape=(res, res, 3), source="random"), "random"


def bench(preset: str, overrides: list[str] | None = None, steps: int = 20, warmup: int = 5,
          device: str = "auto") -> dict[str, Any]:
    from .data import make_loader
    from .training.loop import Trainer, pick_device, time_steps
    cfg = load_config(preset, overrides)
    dev = pick_device(device, "--device")
    data, kind = _bench_data(cfg)
    loader = make_loader(data, cfg.train.batch_size, dev, hflip=cfg.data.hflip, seed=0, resident=cfg.data.resident,
                         num_workers=cfg.data.num_workers)  # the loader training would use (a large store stays mapped)
    t = Trainer.build(cfg, data.num_classes, data.resolution, data.channels, dev)
    timing = time_steps(t, loader, steps, warmup)
    flops = step_flops(t, loader)
    achieved = flops / (timing["ms_per_step"] / 1000) / 1e12
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**30
        name = torch.cuda.get_device_name(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process RSS)
        from .environment import describe, numeric_environment  # speed figures name the CPU's kernels
        name = f"CPU: {describe(numeric_environment())}"
    return {"preset": cfg.preset, "device": name, "data": f"{kind} {data.shape[0]}x{data.shape[1]}x{data.shape[2]}",
            "batch_size": cfg.train.batch_size, "d_steps": cfg.train.d_steps, "precision": cfg.train.precision,
            "ms_per_step": round(timing["ms_per_step"], 2), "images_per_sec": round(timing["images_per_sec"], 1),
            "peak_memory_gib": round(peak, 3), "gflop_per_step": round(flops / 1e9, 3),
            "achieved_tflops": round(achieved, 4), "mfu": _mfu(achieved, name, cfg), "steps_timed": steps,
            "run_hours": round(timing["ms_per_step"] * cfg.train.steps / 3.6e6, 3),  # the config's whole run
            "options": {k: getattr(cfg.train, k) for k in ("channels_last", "compile", "plain")}}


def _mfu(achieved_tflops: float, device_name: str, cfg) -> float | None:
    """Model-FLOPs utilisation: achieved / peak for the precision the step runs in (None: peak unknown)."""
    precision = "fp32" if cfg.train.plain else cfg.train.precision
    peak = peak_tflops(device_name, precision)
    return round(achieved_tflops / peak, 4) if peak else None
