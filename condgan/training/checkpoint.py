"""Training checkpoints: named by step, written atomically, pruned to the newest few.

A checkpoint is one file holding everything needed to resume (networks, optimisers, RNG and data-order
states, step, resolved config) and to sample (G_ema + config + data shape). Reading and the atomic write
itself live in `condgan.io`, below training, so that sampling, metrics and the report share them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..io import (CHECKPOINT_FORMAT as FORMAT, CheckpointError, list_checkpoints, read_checkpoint,
                  resolve_checkpoint, write_checkpoint)

__all__ = ["FORMAT", "CheckpointError", "checkpoint_name", "list_checkpoints", "load_checkpoint",
           "prune_checkpoints", "resolve_checkpoint", "save_checkpoint"]


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:07d}.pt"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write atomically (`condgan.io.atomic_write`): a crash leaves either the old file set or the new
    complete file, never a half-written checkpoint. A failed write names the previous, intact checkpoint."""
    path = Path(path)
    try:
        write_checkpoint(state, path)
    except OSError as e:
        previous = [p for _, p in list_checkpoints(path.parent) if p != path]
        kept = f" The previous checkpoint {previous[-1]} is intact." if previous else ""
        raise CheckpointError(f"Could not write checkpoint '{path}': {e.strerror or e}.{kept} Free space (or "
                              "fix the folder) and continue with --resume.") from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """`condgan.io.read_checkpoint`: `weights_only=True`, so a malicious pickle cannot run code."""
    return read_checkpoint(path, map_location)


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints (never the newest one)."""
    found = list_checkpoints(folder)
    for _, p in found[:-max(1, keep)]:
        p.unlink(missing_ok=True)
