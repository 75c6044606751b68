"""StyleGAN/R3GAN datasets as their `dataset_tool.py` writes them: a zip (or a folder) of images, e.g.
`00000/img00000000.png`, with `dataset.json` = {"labels": [[file, class], ...]} or {"labels": null}.

Read as the official `training/dataset.py: ImageFolderDataset` reads them, so the labels are those its
training sees: every member whose extension PIL knows, in sorted order; a member's class is looked up by its
path in `dataset.json`; no `dataset.json`, or null labels, means unconditional (one class). Images are used
as stored (L or RGB; other modes converted to RGB as StyleGAN3's `dataset_tool.py` does) and must all have the
first one's size. Stricter than the official reader, which would fail later or silently: a member without a
label, a label naming a file that is not there, a label that is not a non-negative integer class id (label
vectors are not class labels) are each a one-line error naming the member.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError

DATASET_JSON = "dataset.json"


def is_stylegan(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() == ".zip") or (path.is_dir() and (path / DATASET_JSON).is_file())


def read_stylegan(path: Path, max_resident_bytes: int, num_classes: int | None = None):
    """(labels, class names or None, images or None, member names or None, shape, reader or None)."""
    archive = ArchiveReader(path)
    names = archive.names
    labels, class_names = read_labels(archive, num_classes)
    first = archive.decode(0)
    h, w, c = first.shape
    if len(names) * h * w * c <= max_resident_bytes:
        return labels, class_names, _decode_all(archive, first), None, (h, w, c), None
    archive.shape = (h, w, c)
    return labels, class_names, None, list(names), (h, w, c), archive


class ArchiveReader:
    """Item i of a StyleGAN zip or folder as uint8 HxWxC; picklable, and opens the zip once per process."""

    def __init__(self, path: Path):
        self.path, self.shape = Path(path), None
        self._zip, self._pid = None, None
        if self.path.is_dir():
            found = (os.path.relpath(os.path.join(d, f), self.path) for d, _, fs in os.walk(self.path) for f in fs)
            members = [m.replace(os.sep, "/") for m in found]
        else:
            try:
                with zipfile.ZipFile(self.path) as z:
                    members = z.namelist()
            except (OSError, zipfile.BadZipFile) as e:
                raise DataError(f"{self.path} is not a readable zip archive ({e}); a StyleGAN dataset is the zip "
                                f"that dataset_tool.py writes") from e
        self.members = set(members)
        known = Image.registered_extensions()  # what the official reader accepts: PIL.Image.EXTENSION
        self.names = sorted(m for m in members if os.path.splitext(m)[1].lower() in known)
        if not self.names:
            raise DataError(f"{self.path} holds no image files; a StyleGAN dataset holds e.g. 00000/img00000000.png")

    def __getstate__(self):
        return {**self.__dict__, "_zip": None, "_pid": None}

    def read_bytes(self, member: str) -> bytes:
        if self.path.is_dir():
            return (self.path / member).read_bytes()
        if self._zip is None or self._pid != os.getpid():  # a forked worker must not share the parent's handle
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip.read(member)

    def decode(self, i: int) -> np.ndarray:
        member = self.names[i]
        try:
            with Image.open(io.BytesIO(self.read_bytes(member))) as im:
                a = np.array(im if im.mode in ("L", "RGB") else im.convert("RGB"))
        except Exception as e:  # decoders raise all sorts: OSError, SyntaxError, ValueError, ...
            raise DataError(f"cannot read image {member} in {self.path}: {type(e).__name__}: {e}; replace it") from e
        return a[..., None] if a.ndim == 2 else a

    def __call__(self, i: int) -> np.ndarray:
        """Item i at the data set's shape (`self.shape`, set from the first image)."""
        return _conform(self.decode(i), self.shape, self.names[i], self.path)


def _conform(a: np.ndarray, shape: tuple[int, int, int], member: str, path: Path) -> np.ndarray:
    if a.shape[:2] != shape[:2]:
        raise DataError(f"{member} in {path} is {a.shape[0]}x{a.shape[1]} (HxW) but the first image is "
                        f"{shape[0]}x{shape[1]}; all images of a StyleGAN dataset must have the same size")
    if a.shape[2] == shape[2]:
        return a
    if a.shape[2] == 1:
        return np.repeat(a, shape[2], axis=2)  # greyscale in an RGB set: as PIL's L -> RGB
    raise DataError(f"{member} in {path} is a colour image but the first image is greyscale; store all images "
                    f"in one mode (dataset_tool.py does)")


def read_labels(archive: ArchiveReader, num_classes: int | None) -> tuple[np.ndarray, list[str] | None]:
    """(class id of each image, ["all"] when unconditional else None), from dataset.json, checked."""
    n, where = len(archive.names), archive.path
    if DATASET_JSON not in archive.members:
        return np.zeros(n, np.int64), ["all"]
    try:
        meta = json.loads(archive.read_bytes(DATASET_JSON))
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{where}: {DATASET_JSON} is unreadable ({e})") from e
    if not isinstance(meta, dict) or "labels" not in meta:
        raise DataError(f"{where}: {DATASET_JSON} has no 'labels' key; dataset_tool.py writes "
                        f'{{"labels": [["00000/img00000000.png", 6], ...]}} or {{"labels": null}}')
    entries = meta["labels"]
    if entries is None:
        return np.zeros(n, np.int64), ["all"]
    if not isinstance(entries, list):
        raise DataError(f"{where}: {DATASET_JSON} 'labels' is a {type(entries).__name__}, expected a list of "
                        f"[file, class] pairs or null")
    table: dict[str, int] = {}
    for j, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise DataError(f"{where}: {DATASET_JSON} labels[{j}] is {entry!r}, expected [file, class]")
        file, value = entry
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # the official reader casts a 1-D label array to int64
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{where}: the label of {file} is {value!r}; condgan trains on integer class ids "
                            f"(a label vector is not a class)")
        if value < 0 or (num_classes is not None and value >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else "0 or more"
            raise DataError(f"{where}: the label of {file} is {value}, outside {bound}")
        if file not in archive.members:
            raise DataError(f"{where}: {DATASET_JSON} labels {file}, which is not in the dataset (a missing file)")
        table[file] = value
    missing = [m for m in archive.names if m not in table]
    if missing:
        raise DataError(f"{where}: {missing[0]} has no label in {DATASET_JSON}"
                        + (f" ({len(missing) - 1} more images have none)" if len(missing) > 1 else ""))
    return np.array([table[m] for m in archive.names], np.int64), None


def _decode_all(archive: ArchiveReader, first: np.ndarray) -> np.ndarray:
    """Every member in a thread pool (the zip reader is thread-safe; decoders release the GIL)."""
    n = len(archive.names)
    out = np.empty((n, *first.shape), np.uint8)
    out[0] = first

    def work(start: int) -> None:
        for i in range(max(start, 1), min(start + 256, n)):
            out[i] = _conform(archive.decode(i), first.shape, archive.names[i], archive.path)

    with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
        for _ in pool.map(work, range(0, n, 256)):
            pass
    return out
