"""Files that must never be half-written, and checkpoints that must never run code.

`atomic_write` is the one way condgan writes a file that something reads back (checkpoints, config, logs,
cached features, reports, images): a temporary file in the same folder, fsync, rename over the target,
fsync of the folder. A crash at any moment leaves either the old file or the new complete one.
`read_checkpoint` is the one way a checkpoint is read: `torch.load(weights_only=True)`, so a file from
elsewhere cannot execute code, and every failure is a `CheckpointError` naming the file.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch

from .errors import CondganError

CHECKPOINT_FORMAT = "condgan-checkpoint-v1"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")


class CheckpointError(CondganError, ValueError):
    """A checkpoint that is missing, unreadable, foreign, or could not be written."""


def atomic_write(path: str | os.PathLike, write_fn: Callable[[IO], Any], *, text: bool = False) -> Path:
    """Call `write_fn(f)` on a temporary file next to `path`, then fsync it, rename it to `path` and fsync the
    folder. `text=True` opens it in UTF-8 text mode. On any error the temporary file is removed and the old
    `path`, if any, is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; give it the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _read_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """`state` stamped with the checkpoint format, written atomically; OSError (e.g. a full disk) propagates."""
    return atomic_write(path, lambda f: torch.save({"format": CHECKPOINT_FORMAT, **state}, f))


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> dict[str, Any]:
    """Load with `weights_only=True`: a malicious pickle cannot run code, it only fails to load. `mmap=True`
    maps the tensors instead of reading them (cheap when only metadata is needed)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, **({"mmap": True} if mmap else {}))
    except Exception as e:  # corrupt, truncated, or not a plain-tensor file
        msg = " ".join(str(e).split())[:200]
        raise CheckpointError(f"Checkpoint '{path}' cannot be read ({type(e).__name__}: {msg}). "
                              "It may be truncated or not a condgan checkpoint.") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"'{path}' is not a condgan checkpoint (expected format '{CHECKPOINT_FORMAT}').")
    return state


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the `checkpoint-NNNNNNN.pt` files in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT_NAME.match(p.name))]
    return sorted(found)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
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
