"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is one file holding everything needed to resume (networks, optimisers, RNG and data-order
states, step, resolved config) and to sample (G_ema + config + data shape).
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "condgan-checkpoint-v1"
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


class CheckpointError(ValueError):
    pass


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:07d}.pt"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: a crash leaves either the old
    file set or the new complete file, never a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        previous = [p for _, p in list_checkpoints(path.parent) if p != path]
        kept = f" The previous checkpoint {previous[-1]} is intact." if previous else ""
        raise CheckpointError(f"Could not write checkpoint '{path}': {e.strerror or e}.{kept} Free space (or "
                              "fix the folder) and continue with --resume.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with `weights_only=True`: a malicious pickle cannot run code, it only fails to load."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a plain-tensor file
        raise CheckpointError(f"Checkpoint '{path}' cannot be read ({type(e).__name__}: {str(e)[:200]}). "
                              "It may be truncated or not a condgan checkpoint.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a condgan checkpoint (expected format '{FORMAT}').")
    return state


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or a run folder (its newest checkpoint)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        found = list_checkpoints(path / "checkpoints") or list_checkpoints(path)
        if not found:
            raise CheckpointError(f"Run folder '{path}' holds no checkpoint-*.pt file yet.")
        return found[-1][1]
    raise CheckpointError(f"'{path}' is neither a checkpoint file nor a run folder.")


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints (never the newest one)."""
    found = list_checkpoints(folder)
    for _, p in found[:-max(1, keep)]:
        p.unlink(missing_ok=True)
