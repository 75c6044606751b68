"""The original CIFAR-10 / CIFAR-100 python archives, read straight from the tar; their pickles are unpickled
with an allow-list of numpy globals, so an archive from elsewhere cannot run code."""
from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

_CIFAR = {
    "cifar-10-batches-py": dict(train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                                meta="batches.meta", names=b"label_names", labels=b"labels"),
    "cifar-100-python": dict(train=["train"], test=["test"], meta="meta", names=b"fine_label_names",
                             labels=b"fine_labels"),
}


def is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def read_cifar(path: Path, split: str) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    wanted = {f"{d}/{m}" for d, spec in _CIFAR.items() for m in spec[split] + [spec["meta"]]}
    blobs: dict[str, bytes] = {}
    seen: list[str] = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # one pass: a .gz is not cheaply seekable
                name = member.name.removeprefix("./")
                seen.append(name)
                if name in wanted and member.isfile():
                    blobs[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{path} is unreadable (truncated or corrupt?): {type(e).__name__}: {e}; "
                        f"re-download the CIFAR python archive") from e

    top = next((d for d in _CIFAR if any(n.startswith(d + "/") for n in seen)), None)
    if top is None:
        raise DataError(f"{path} is not a CIFAR python archive: it has no cifar-10-batches-py/ or "
                        f"cifar-100-python/ members; pass cifar-10-python.tar.gz or cifar-100-python.tar.gz")
    spec = _CIFAR[top]
    for m in spec[split] + [spec["meta"]]:
        if f"{top}/{m}" not in blobs:
            raise DataError(f"{path} lacks the member {top}/{m}; the archive is incomplete: re-download it")

    meta_name = f"{top}/{spec['meta']}"
    meta = _unpickle(blobs[meta_name], f"{path}:{meta_name}")
    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in _field(meta, spec["names"], meta_name)]
    images, labels = [], []
    for m in spec[split]:
        where = f"{path}:{top}/{m}"
        batch = _unpickle(blobs[f"{top}/{m}"], where)
        data, y = np.asarray(_field(batch, b"data", where)), np.asarray(_field(batch, spec["labels"], where))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{where}: data has shape {data.shape} and dtype {data.dtype}; expected (N, 3072) uint8")
        if y.shape != (len(data),) or y.dtype.kind not in "iu":
            raise DataError(f"{where}: labels have shape {y.shape} and dtype {y.dtype}; expected ({len(data)},) int")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # rows are CHW
        labels.append(y)
    return np.concatenate(labels), names, np.ascontiguousarray(np.concatenate(images)), f"{path} ({split})"


def _field(d: object, key: bytes, where: str) -> object:
    """d[key], accepting str keys too (a pickle re-saved under Python 3)."""
    if isinstance(d, dict):
        for k in (key, key.decode()):
            if k in d:
                return d[k]
    have = list(d) if isinstance(d, dict) else type(d).__name__
    raise DataError(f"{where} has no {key.decode()!r} entry (it has {have}); is this a genuine CIFAR archive?")


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays, and refuses every other global.

    Unpickling may call any importable function, and the archive comes from the user; a genuine
    CIFAR pickle needs only the three numpy globals that rebuild an array.
    """

    allowed = _numpy_globals()

    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str) -> object:
        obj = self.allowed.get((module, name))
        if obj is None:
            raise DataError(f"{self.where} refers to the Python global {module}.{name}; a genuine CIFAR pickle "
                            f"holds only numpy arrays, lists and dicts, so it was refused (unpickling it could "
                            f"run arbitrary code): re-download the archive")
        return obj


def _unpickle(data: bytes, where: str) -> object:
    try:
        return _ArrayUnpickler(data, where).load()
    except DataError:
        raise
    except Exception as e:  # pickle raises many types on bad input
        raise DataError(f"{where} is not a valid pickle ({type(e).__name__}: {e}); re-download the archive") from e
