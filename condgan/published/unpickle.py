"""Read R3GAN's network pickles as data, without running any of the code a pickle can name.

A pickle is a small program: every class or function it names is looked up (`find_class`) and called while
loading, so `pickle.load` on a downloaded file can run anything. R3GAN's snapshots (`network-snapshot-*.pkl`,
the released `.pkl` files) are a plain `pickle.dump` of a dict holding the official `nn.Module`s, whose
tensors torch pickles as `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` of storages, each storage
being a small legacy `torch.save` blob passed to `torch.storage._load_from_bytes`. Here `find_class` answers
only names on an explicit allow-list, and none of them with upstream code:

- the official module classes (both the CUDA and the reference resampler/activation variants, and the older
  `BaselineGAN.*` / `training.networks_baseline.*` names) become `StandIn`s that only record their state;
- the tensor rebuilds and `_load_from_bytes` are re-implemented below: the storage blob is parsed byte by byte
  (its inner pickle goes through this same allow-list), and every tensor lands on the CPU whatever device
  it was saved from;
- stylegan's `persistence._reconstruct_persistent_obj` yields a `StandIn` too; the module source text such
  objects embed is kept as an inert string and never compiled.

Every other name is refused with a `PublishedModelError` naming it (`module.qualname`), before anything runs.
"""
from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import PublishedModelError

_R3GAN_CLASSES = {
    "Networks": ("Convolution", "ResidualBlock", "UpsampleLayer", "DownsampleLayer", "GenerativeBasis",
                 "DiscriminativeBasis", "GeneratorStage", "DiscriminatorStage", "Generator", "Discriminator"),
    "Resamplers": ("InterpolativeUpsamplerCUDA", "InterpolativeDownsamplerCUDA",
                   "InterpolativeUpsamplerReference", "InterpolativeDownsamplerReference"),
    "FusedOperators": ("BiasedActivationCUDA", "BiasedActivationReference"),
}
# module path -> class names that become StandIns. The official legacy.py loads files written under the
# project's earlier name (BaselineGAN, training.networks_baseline) as the same classes, so we accept both.
STAND_IN_CLASSES: dict[str, frozenset[str]] = {
    **{f"{pkg}.{mod}": frozenset(names) for pkg in ("R3GAN", "BaselineGAN") for mod, names in _R3GAN_CLASSES.items()},
    "training.networks": frozenset({"Generator", "Discriminator"}),
    "training.networks_baseline": frozenset({"Generator", "Discriminator"}),
    "torch.nn.modules.conv": frozenset({"Conv2d"}),
    "torch.nn.modules.linear": frozenset({"Linear"}),
    "torch.nn.modules.container": frozenset({"ModuleList"}),
    "torch.nn.modules.activation": frozenset({"LeakyReLU"}),
}
# class names a stylegan persistent object may carry (its meta names a class, not a module path)
PERSISTENT_CLASSES = frozenset(n for names in _R3GAN_CLASSES.values() for n in names) | {"Generator", "Discriminator"}

_DTYPES = {name: getattr(torch, name) for name in (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")}
_STORAGE_DTYPES = {"DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
                   "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                   "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                   "BoolStorage": torch.bool}
_TORCH_SAVE_MAGIC = 0x1950A86A20F9469CFC6C   # first pickle of a legacy torch.save stream


class StandIn:
    """What an allowed class becomes: its name (`module.qualname`), constructor args and pickled state."""
    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "StandIn":
        obj = object.__new__(cls)
        obj.args, obj.state = args, {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:   # REDUCE calls cls(*args): record, run nothing
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"StandIn({self.qualname})"


class EasyDictStandIn(dict):
    """dnnlib.EasyDict is a dict with attribute access; the data is all we need."""


_stand_in_types: dict[str, type] = {}


def _stand_in(qualname: str) -> type:
    if qualname not in _stand_in_types:
        _stand_in_types[qualname] = type(qualname.rsplit(".", 1)[-1], (StandIn,), {"qualname": qualname})
    return _stand_in_types[qualname]


# ---------------------------------------------------------------- safe replacements of the allowed functions

def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                    backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise PublishedModelError(f"a tensor's storage is a {type(storage).__name__}, not tensor data.")
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, backward_hooks: Any = None,
                       state: Any = None) -> torch.Tensor:
    return data   # a Parameter's data is all a state dict holds


def _reconstruct_persistent_obj(meta: Any) -> StandIn:
    """stylegan's persistent objects carry their module's source; we keep the class name and state only."""
    name = meta.get("class_name") if isinstance(meta, dict) else None
    if name not in PERSISTENT_CLASSES:
        raise PublishedModelError(f"refused persistent class '{name}': not an R3GAN network class.")
    obj = _stand_in(f"<persistent>.{name}")()
    obj.__setstate__(meta.get("state") or {})
    return obj


def _numpy_scalar(dtype: Any, data: bytes = b"") -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise PublishedModelError(f"refused numpy scalar of dtype {dtype!r}.")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(name: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(name, str):
        raise PublishedModelError(f"refused numpy dtype {name!r}.")
    return np.dtype(name)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """copyreg's helper for protocol 0/1 pickles of plain objects: only for StandIns, only object.__new__."""
    if not (isinstance(cls, type) and issubclass(cls, StandIn) and base is object):
        raise PublishedModelError(f"refused copyreg._reconstructor of {cls!r:.80}.")
    return cls()


def _load_from_bytes(blob: bytes) -> torch.Tensor:
    """A storage pickled by torch: a legacy torch.save stream (magic, protocol, sys info, the storage's
    persistent id, its key list, then per key an int64 element count and the raw little-endian bytes).
    Returns the storage as a flat CPU tensor of its dtype; where it was saved from (e.g. cuda:0) is ignored."""
    f = io.BytesIO(blob)
    if _restricted_load(f) != _TORCH_SAVE_MAGIC:
        raise PublishedModelError("a tensor storage is not in torch's pickled-storage format.")
    _restricted_load(f)                                     # protocol version
    sys_info = _restricted_load(f)
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian", True)):
        raise PublishedModelError("a tensor storage was written big-endian; convert it on that machine first.")
    ids: list[tuple] = []

    def persistent_load(pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise PublishedModelError(f"unexpected persistent id in a tensor storage: {pid!r:.80}.")
        if len(pid) > 5 and pid[5] is not None:
            raise PublishedModelError("storage views (torch < 1.0 files) are not supported.")
        ids.append(pid)
        return pid

    _restricted_load(f, persistent_load)
    keys = _restricted_load(f)
    if len(ids) != 1 or keys != [ids[0][2]]:
        raise PublishedModelError("a tensor storage holds an unexpected layout.")
    dtype = ids[0][1]
    (numel,) = struct.unpack("<q", _read(f, 8))
    data = bytearray(_read(f, numel * torch.empty((), dtype=dtype).element_size()))
    return torch.frombuffer(data, dtype=dtype) if numel else torch.empty(0, dtype=dtype)


def _read(f: io.BytesIO, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise EOFError("tensor data ends early")
    return b


_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "set"): set,               # protocols < 4 pickle sets by name
    ("builtins", "frozenset"): frozenset,
    ("builtins", "object"): object,         # copyreg._reconstructor's base
    ("torch", "Size"): tuple,
    ("torch", "device"): torch.device,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose every global lookup goes through the allow-list above; `persistent` answers
    persistent ids (only a storage blob's inner pickle has them)."""

    def __init__(self, f: io.BytesIO, persistent: Any = None):
        super().__init__(f)
        self._persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]          # a storage type stands for its dtype
        if name in STAND_IN_CLASSES.get(module, ()):
            return _stand_in(f"{module}.{name}")
        raise PublishedModelError(f"refused to load '{module}.{name}': not on the list of classes an R3GAN "
                                  "network pickle may name (nothing was executed).")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise PublishedModelError("unexpected persistent id in a plain pickle.")
        return self._persistent(pid)


def _restricted_load(f: io.BytesIO, persistent_load: Any = None) -> Any:
    return RestrictedUnpickler(f, persistent_load).load()


def load(path: str | Path) -> Any:
    """Unpickle `path` with the allow-list; any failure (a refused name, a truncated or foreign file) is one
    PublishedModelError naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PublishedModelError(f"cannot read {path}: {e.strerror or e}.") from None
    if raw[:2] == b"PK":
        raise PublishedModelError(f"{path.name} is a zip archive (a torch.save checkpoint?), not an R3GAN "
                                  "network pickle (a .pkl written by its training loop).")
    if not raw.startswith(b"\x80"):
        raise PublishedModelError(f"{path.name} is not a pickle (an R3GAN .pkl starts with a pickle header).")
    try:
        return _restricted_load(io.BytesIO(raw))
    except PublishedModelError as e:
        raise PublishedModelError(f"{path.name}: {e}") from None
    except (EOFError, struct.error) as e:
        raise PublishedModelError(f"{path.name} is truncated ({e or 'ends early'}); download it again.") from None
    except Exception as e:  # noqa: BLE001 - corrupt bytes raise many types; report them as one kind
        raise PublishedModelError(f"{path.name} is not a readable R3GAN network pickle: "
                                  f"{type(e).__name__}: {e}".strip()[:300]) from None
