"""Inference snapshots: the EMA generator alone, as a safetensors file, for sharing.

A training checkpoint holds everything needed to resume (both networks, optimisers, RNG states); a user who
shares a generator needs none of that, and a pickle is a file that can run code. `export_generator` writes
G_ema's tensors into a `.safetensors` file, with the resolved config, the class names and the data shape as
its JSON metadata; `read_generator` reads either kind (run folder, checkpoint, snapshot), so `condgan.load`,
`condgan sample` and `condgan evaluate` take all three.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .io import CheckpointError, atomic_write, read_checkpoint, resolve_checkpoint

SNAPSHOT_FORMAT = "condgan-generator-v1"
SAMPLE_PRECISIONS = ("fp32", "official")


@dataclass
class GeneratorSnapshot:
    """What sampling needs: G_ema's state, the resolved config (as a dict), the data shape and class names."""
    path: Path
    config: dict[str, Any]
    data: dict[str, Any]
    G_ema: dict[str, torch.Tensor]
    step: int = 0
    sample_precision: str = "fp32"          # "official": the imported network's own mixed precision
    provenance: dict[str, Any] = field(default_factory=dict)   # where imported weights came from


def read_generator(path: str | Path, map_location: str | torch.device = "cpu") -> GeneratorSnapshot:
    """A run folder (its newest checkpoint), a checkpoint file, or a `.safetensors` snapshot."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_snapshot(path, map_location)
    ckpt = resolve_checkpoint(path)
    state = read_checkpoint(ckpt, map_location)
    imported = state.get("imported") or {}
    return GeneratorSnapshot(ckpt, state["config"], state["data"], state["G_ema"], int(state["step"]),
                             imported.get("sample_precision", "fp32"), imported)


def _read_snapshot(path: Path, map_location) -> GeneratorSnapshot:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open
    if not path.is_file():
        raise CheckpointError(f"Snapshot '{path}' does not exist.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"Snapshot '{path}' cannot be read ({' '.join(str(e).split())[:160]}); it may be "
                              "truncated or not a safetensors file.") from None
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise CheckpointError(f"'{path}' is a safetensors file but not a condgan generator snapshot (metadata "
                              f"'format' is {meta.get('format')!r}, expected '{SNAPSHOT_FORMAT}').")
    try:
        fields = {k: json.loads(meta[k]) for k in ("config", "data", "provenance")}
        step, precision = int(meta["step"]), meta["sample_precision"]
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"Snapshot '{path}': metadata entry {e} is missing or malformed.") from None
    return GeneratorSnapshot(path, fields["config"], fields["data"], tensors, step, precision, fields["provenance"])


def export_generator(source: str | Path, out: str | Path) -> Path:
    """Write `source`'s G_ema (run folder, checkpoint or snapshot) to `out` (.safetensors), atomically."""
    from safetensors.torch import save
    out = Path(out)
    if out.suffix != ".safetensors":
        raise CheckpointError(f"--out '{out}': a generator snapshot is written as FILE.safetensors.")
    snap = read_generator(source)
    tensors = {k: v.detach().cpu().contiguous() for k, v in snap.G_ema.items()}
    meta = {"format": SNAPSHOT_FORMAT, "step": str(snap.step), "sample_precision": snap.sample_precision,
            "config": json.dumps(snap.config), "data": json.dumps(snap.data),
            "provenance": json.dumps(snap.provenance)}
    blob = save(tensors, metadata=meta)
    return atomic_write(out, lambda f: f.write(blob))
