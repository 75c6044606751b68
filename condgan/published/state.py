"""Reading upstream `.pth` files as data and renaming their tensors onto condgan's networks.

Shared by the StudioGAN and BigGAN-PyTorch importers: `torch.load(weights_only=True)` (so no pickled code
runs) with the few numpy scalar types their checkpoints carry, `module.` prefixes of DDP/DataParallel runs
removed, and a strict renaming (`convert_state`) whose errors name the upstream tensor.
"""
from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..models import build_networks
from .base import PublishedModelError



def _numpy_scalar_globals() -> list:
    """StudioGAN's D file stores `best_fid` as a numpy float64: allow numpy's scalar rebuild (it builds a
    number from bytes and runs nothing), under numpy 1's and numpy 2's module names."""
    try:
        import numpy as np
        scalar = (getattr(np, "_core", None) or np.core).multiarray.scalar
    except (ImportError, AttributeError):
        return []
    dtypes = [getattr(np.dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType") if hasattr(np, "dtypes")]
    return [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype, *dtypes]


def read_pth(path: Path, what: str) -> Any:
    """torch.load(weights_only=True): tensors, containers and numbers only. A truncated file, a file of
    another format, or one that needs other classes raises PublishedModelError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PublishedModelError(f"{what}: file '{path}' does not exist.")
    with path.open("rb") as f:
        head = f.read(4)
    if not (head == b"PK\x03\x04" or head[:1] == b"\x80"):     # a zip (torch >= 1.6) or a pickle (older torch)
        raise PublishedModelError(f"{what}: '{path}' is not a PyTorch .pth file.")
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure of an untrusted file is the user's to fix
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        if found:
            raise PublishedModelError(f"{what}: '{path}' needs class {found.group(1)} to load, which is not a "
                                      "tensor or plain container; refused (nothing was run).") from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PublishedModelError(f"{what}: '{path}' is a damaged or truncated PyTorch file ({msg}).") from None


def strip_module_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """DataParallel / DistributedDataParallel save every key under `module.`."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rename(key: str, prefixes: dict[str, str], parts: dict[str, str]) -> str:
    """condgan key -> upstream key: the longest matching module prefix is replaced, then each dotted
    component is renamed through `parts` (an empty name drops the component)."""
    for p in sorted(prefixes, key=len, reverse=True):
        if key == p or key.startswith(p + "."):
            key = prefixes[p] + key[len(p):]
            break
    return ".".join(n for n in (parts.get(c, c) for c in key.split(".")) if n)


def convert_state(module: nn.Module, official: dict[str, Any], to_official: Callable[[str], str | None],
                  what: str, official_shape: Callable[[str, tuple], tuple] = lambda k, s: s,
                  extra: Callable[[str], bool] = lambda k: False) -> tuple[dict[str, torch.Tensor], set[str]]:
    """Fill `module`'s state dict from an upstream one. `to_official` names the upstream tensor of each
    condgan key (None: derived later by the caller); `official_shape` the shape upstream stores it in;
    `extra(k)`: an upstream key that is read but has no condgan tensor (e.g. BigGAN-PyTorch's sv0).
    Errors name the upstream tensor. Returns the state and the condgan keys left for the caller."""
    out, used, derived = {}, set(), set()
    for key, ref in module.state_dict().items():
        name = to_official(key)
        if name is None:
            derived.add(key)
            continue
        if name not in official:
            raise PublishedModelError(f"{what}: tensor '{name}' is missing (needed for this configuration).")
        t = official[name]
        if not isinstance(t, torch.Tensor):
            raise PublishedModelError(f"{what}: entry '{name}' is a {type(t).__name__}, not a tensor.")
        want = tuple(official_shape(key, tuple(ref.shape)))
        if tuple(t.shape) != want:
            raise PublishedModelError(f"{what}: tensor '{name}' has shape {tuple(t.shape)}, expected {want} "
                                      "for this configuration.")
        out[key] = t.detach().reshape(ref.shape).to(ref.dtype).clone()
        used.add(name)
    unexpected = [k for k in official if k not in used and not extra(k)]
    if unexpected:
        raise PublishedModelError(f"{what}: unexpected tensor '{unexpected[0]}' ({len(unexpected)} unexpected in "
                                  "all); is this file of another configuration?")
    return out, derived


def shapes_only(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """condgan's G and D for their tensor names and shapes; a cheap init, since every tensor is replaced
    (orthogonal init of a 128 px network takes many seconds on a CPU)."""
    cheap = copy.deepcopy(cfg)
    cheap.G.init = cheap.D.init = "normal"
    return build_networks(cheap, num_classes, resolution, channels)
