"""condgan: train, sample and evaluate class-conditional GANs.

    import condgan
    cfg = condgan.load_config("digits", ["train.steps=500"])
    ckpt = condgan.train(cfg, "runs/digits")
    gen = condgan.load("runs/digits")
    images = gen.sample([0, 1, 2], truncation=1.0, seed=0)   # uint8 (3, H, W, C)
"""
from __future__ import annotations

from pathlib import Path

import torch

from .config import Config, ConfigError, list_presets, load_config
from .errors import CondganError
from .sample import ConditionalSampler

__version__ = "0.1.0"


def load(path, device: str | torch.device = "cpu", precision: str | None = None) -> ConditionalSampler:
    """Load the EMA generator of a run folder (newest checkpoint), a checkpoint file or a `.safetensors`
    snapshot, ready to sample. `precision`: "fp32", or "official" (an imported network's own mixed precision,
    e.g. R3GAN's bf16 stages); None takes the file's default (official for imported R3GAN models). `path` may
    also be a `condgan.snapshot.GeneratorSnapshot` already read (nothing is read twice)."""
    from .config import config_from_dict
    from .models import build_networks
    from .snapshot import GeneratorSnapshot, read_generator
    snap = path if isinstance(path, GeneratorSnapshot) else read_generator(Path(path))
    cfg, meta = config_from_dict(snap.config), snap.data
    G, _ = build_networks(cfg, meta["num_classes"], meta["resolution"], meta["channels"])
    G.load_state_dict(snap.G_ema)
    device = torch.device(device)
    return ConditionalSampler(G.to(device), meta["class_names"], device, step=snap.step,
                              precision=precision or snap.sample_precision)


def train(cfg: Config, outdir: str | Path, resume: bool | str = False, force: bool = False,
          progress: bool = True) -> Path:
    """Train a GAN as configured (resume: False, True or "auto"); see `condgan.training.loop.train`."""
    from .training.loop import train as _train
    return _train(cfg, outdir, resume=resume, force=force, progress=progress)


__all__ = ["CondganError", "Config", "ConfigError", "ConditionalSampler", "list_presets", "load", "load_config",
           "train"]
