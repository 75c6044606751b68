"""condgan's prepared store: what `condgan prepare` writes and training reads at memory speed.

A folder of three files, so any tool can read it and the images can be memory-mapped without a decoder:

    images.u8    the images, uncompressed uint8 (N, H, W, C), row after row, no header
    labels.npy   int64 (N,)
    store.json   format, shape, class names, the settings it was made with, the source's provenance
                 (file count, content hash), the files skipped as unreadable; written last, atomically

`store.json` is the completion marker: a prepare that is interrupted leaves `progress.json` instead, and the
folder reads as unfinished (with the command that finishes it), never as a store. A store that fits in
`data.max_resident_bytes` is read into memory; a larger one is memory-mapped (`np.memmap`), and
`make_loader` gives it a loader that gathers each batch's rows from the map.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import DataError

FORMAT = "condgan-store-v1"
IMAGES, LABELS, META, PROGRESS = "images.u8", "labels.npy", "store.json", "progress.json"


def is_store(path: Path) -> bool:
    """A finished or unfinished store folder."""
    return path.is_dir() and ((path / META).is_file() or (path / PROGRESS).is_file())


def read_meta(path: Path) -> dict:
    """store.json of a finished store, checked; a DataError naming the folder otherwise."""
    if not (path / META).is_file():
        raise DataError(f"{path} is an unfinished store: its `condgan prepare` was interrupted or stopped at a bad "
                        f"file; run the same `condgan prepare ... --out {path}` again to finish it")
    try:
        meta = json.loads((path / META).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path / META} is unreadable ({e}); prepare the store again") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path / META} is not a {FORMAT} store description (format "
                        f"{meta.get('format') if isinstance(meta, dict) else None!r}); prepare the store again")
    return meta


def read_store(path: Path, max_resident_bytes: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(labels, class names, images): images in memory when they fit in `max_resident_bytes`, else an
    `np.memmap` of images.u8."""
    meta = read_meta(path)
    n, h, w, c = (int(v) for v in meta["shape"])
    expected = n * h * w * c
    try:
        size = (path / IMAGES).stat().st_size
    except OSError as e:
        raise DataError(f"store {path} lacks {IMAGES} ({e}); prepare it again") from e
    if size != expected:
        raise DataError(f"{path / IMAGES} has {size} bytes but store.json describes {n}x{h}x{w}x{c} = {expected}; "
                        f"the store is damaged: prepare it again")
    try:
        labels = np.load(path / LABELS, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path / LABELS} is unreadable ({e}); prepare the store again") from e
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise DataError(f"{path / LABELS} is {labels.dtype} {labels.shape}, expected int64 ({n},); "
                        f"prepare the store again")
    if expected <= max_resident_bytes:
        images = np.fromfile(path / IMAGES, dtype=np.uint8).reshape(n, h, w, c)
    else:
        images = np.memmap(path / IMAGES, dtype=np.uint8, mode="r", shape=(n, h, w, c))
    return labels.astype(np.int64), list(meta["class_names"]), images
