"""`condgan prepare`: a raw image collection, decoded and resized once, into a prepared store (`store.py`).

Why: raw ImageNet is 1.28 million JPEGs of every size; decoding and resizing them at every step costs more
CPU than a GPU step leaves, and condgan's other readers need images of one shape. Preparing once gives
uncompressed rows that training reads resident or memory-mapped, at memory speed.

- Sources: a class-folder tree of images of any size and mode (listed as torchvision's `ImageFolder` lists
  it), a StyleGAN/R3GAN dataset zip or folder with `dataset.json`, and everything `data.source` reads
  (npz, CIFAR archives, digits, Stacked MNIST, StudioGAN HDF5, another store).
- Geometry and modes as the official tools do them (`geometry.py`: `--crop center|none|studiogan`,
  Lanczos by default).
- Deterministic: the same input and settings give byte-equal stores, whatever `--workers`.
- Resumable and atomic: images are decoded in chunks of `CHUNK` by `--workers` processes, each writing its
  rows in place; `progress.json` records the finished chunks (after an fsync of the rows), so running the
  same command again continues where an interruption left off; `store.json`, written last, marks the
  store complete.
- An unreadable file stops the run with a one-line error naming it (finished chunks are kept);
  `--skip-bad` leaves such files out and lists them in `store.json`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from .errors import DataError
from .folder import list_image_tree
from .geometry import CROPS, FILTERS, fit
from .store import FORMAT, IMAGES, LABELS, META, PROGRESS, is_store, read_meta

CHUNK = 256  # images per task, and per entry of the content hash
SAVE_EVERY_S = 5.0  # how often progress.json is rewritten
GEOMETRY = {
    "center": "the central square (offsets rounded down), then resized: StyleGAN/R3GAN dataset_tool.py "
              "--transform=center-crop",
    "none": "resized to a square, aspect ratio not kept: StyleGAN/R3GAN dataset_tool.py without --transform",
    "studiogan": "the central square (offsets rounded to nearest), then resized: StudioGAN's CenterCropLongEdge "
                 "+ Resize",
}


@dataclass
class _Source:
    """What is prepared: n items, their labels and class names, and how a worker gets chunk c's pixels."""
    kind: str  # "files" (image files), "zip" (members of a StyleGAN zip or folder) or "arrays" (decoded)
    names: list[str]  # one per item: a path relative to the source, a zip member, or "#i"
    labels: np.ndarray
    class_names: list[str]
    root: str  # the folder the names are relative to, or the zip
    rows: Callable[[int, int], np.ndarray] | None = None  # arrays: items a..b as uint8 NHWC


def prepare(source: str | os.PathLike, out: str | os.PathLike, resolution: int, *, crop: str = "center",
            filter: str = "lanczos", channels: int = 3, workers: int | None = None, skip_bad: bool = False,
            split: str = "train", force: bool = False, progress: bool = True,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the store of `source` at `resolution` into the folder `out` (or finish an interrupted one) and
    return its store.json contents. `force` replaces a store of other input or settings at `out`."""
    _check_args(resolution, crop, filter, channels, workers)
    workers = _default_workers() if workers is None else workers
    out = Path(out)
    if Path(source).is_dir() and out.resolve().is_relative_to(Path(source).resolve()):
        raise DataError(f"--out {out} is inside the source {source}, where it would be read as a class; "
                        f"write the store elsewhere")
    src = _read_source(source, split)
    n = len(src.names)
    settings = {"resolution": resolution, "crop": crop, "filter": filter, "channels": channels, "split": split}
    plan = {"format": FORMAT, "source": str(source), "settings": settings, "count": n,
            "listing_sha256": _listing_hash(src)}
    state = _open_dest(out, plan, force)
    if state == "complete":
        log(f"{out} already holds this store (same input and settings): nothing to do")
        return read_meta(out)
    done: dict[str, dict] = state if isinstance(state, dict) else {}
    row_bytes = resolution * resolution * channels
    images = out / IMAGES
    chunks = -(-n // CHUNK)
    compacted = (n - sum(len(d["skipped"]) for d in done.values())) * row_bytes  # all done, bad rows removed
    size = images.stat().st_size if images.is_file() else -1
    if not done or not (size == n * row_bytes or len(done) == chunks and size == compacted):
        done = {}
        _save_progress(out, plan, done, images)  # first: from now on the folder reads as an unfinished store
        with open(images, "wb") as f:
            f.truncate(n * row_bytes)  # sparse: rows are written in place by the workers

    spec = (resolution, crop, filter, channels)
    todo = [c for c in range(chunks) if str(c) not in done]
    if todo:
        left = sum(min(CHUNK, n - c * CHUNK) for c in todo)
        log(f"{'Resuming: p' if done else 'P'}reparing {left} of {n} images from {source} into {out} "
            f"({resolution}x{resolution}x{channels}, crop {crop}, filter {filter}; {workers} workers)")
    _run(src, todo, spec, images, row_bytes, done, skip_bad, workers, progress,
         lambda: _save_progress(out, plan, done, images), log)
    return _finish(out, src, plan, done, images, row_bytes, log)


def _check_args(resolution, crop, filter, channels, workers) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 1 <= resolution <= 8192:
        raise DataError(f"--resolution {resolution!r} must be an integer in 1..8192 (the training size in pixels)")
    if crop not in CROPS:
        raise DataError(f"--crop {crop!r} is not one of {', '.join(CROPS)}")
    if filter not in FILTERS:
        raise DataError(f"--filter {filter!r} is not one of {', '.join(FILTERS)}")
    if channels not in (1, 3):
        raise DataError(f"--channels {channels!r} must be 1 (greyscale) or 3 (RGB)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise DataError(f"--workers {workers!r} must be a non-negative integer (0: decode in this process)")


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------------------------
# The source


def _read_source(source: str | os.PathLike, split: str) -> _Source:
    from .hdf5 import is_hdf5, read_hdf5
    from .sources import load_images
    from .stylegan import ArchiveReader, is_stylegan, read_labels
    path = Path(source)
    if isinstance(source, str) and (source == "digits" or ":" in source and not path.exists()):
        path = None  # 'digits', 'stacked-mnist:PATH': read below
    if path is not None and is_stylegan(path):
        archive = ArchiveReader(path)
        labels, names = read_labels(archive, None)
        k = int(labels.max()) + 1
        return _Source("zip", archive.names, labels, names or [str(i) for i in range(k)], str(path))
    if path is not None and path.is_dir() and not is_store(path):
        files, labels, names = list_image_tree(path)
        rel = [Path(f).relative_to(path).as_posix() for f in files]
        return _Source("files", rel, np.array(labels, np.int64), names, str(path))
    if path is not None and is_hdf5(path):
        labels, _, _, reader = read_hdf5(path, max_resident_bytes=0)

        def rows(a: int, b: int) -> np.ndarray:
            part = reader.file()["imgs"][a:b]
            return part.transpose(0, 2, 3, 1) if reader.nchw else part
        k = int(labels.max()) + 1
        return _Source("arrays", [f"#{i}" for i in range(len(labels))], labels, [str(i) for i in range(k)],
                       str(path), rows)
    data = load_images(source, split=split, max_resident_bytes=0 if path is not None and is_store(path) else 1 << 62)
    if data.images is None:  # cannot happen with the limits above; kept as a guard
        raise DataError(f"{source} could not be read into memory for preparing")
    images = data.images
    return _Source("arrays", [f"#{i}" for i in range(len(data))], data.labels, data.class_names, str(source),
                   lambda a, b: images[a:b])


def _listing_hash(src: _Source) -> str:
    """What identifies the input before decoding: item names, labels and class names."""
    h = hashlib.sha256()
    h.update(json.dumps([src.kind, src.class_names]).encode())
    h.update("\n".join(src.names).encode())
    h.update(np.ascontiguousarray(src.labels, dtype="<i8").tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------------
# The destination: new, unfinished (resume) or complete


def _open_dest(out: Path, plan: dict, force: bool) -> str | dict:
    """'new', 'complete', or the finished chunks of an unfinished store of the same plan."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder for the store")
    if out.is_dir() and any(out.iterdir()) and not is_store(out):
        raise DataError(f"--out {out} is a folder that is not a condgan store; give a new or empty folder")
    if (out / META).is_file():
        meta = read_meta(out)
        if _plan_of(meta) == plan:
            return "complete"
        if not force:
            raise DataError(f"--out {out} holds a store of other input or settings "
                            f"({meta['source']['path']}, {meta['settings']}); pass --force to replace it")
        _remove_store(out)
    elif (out / PROGRESS).is_file():
        try:
            prog = json.loads((out / PROGRESS).read_text())
        except (OSError, ValueError):
            prog = {}
        if prog.get("plan") == plan:
            return prog.get("done", {})
        if not force:
            raise DataError(f"--out {out} holds an unfinished prepare of other input or settings "
                            f"({prog.get('plan', {}).get('source')}, {prog.get('plan', {}).get('settings')}); "
                            f"pass --force to start over")
        _remove_store(out)
    out.mkdir(parents=True, exist_ok=True)
    return "new"


def _plan_of(meta: dict) -> dict:
    s = meta["source"]
    return {"format": meta["format"], "source": s["path"], "settings": meta["settings"], "count": s["files"],
            "listing_sha256": s["listing_sha256"]}


def _remove_store(out: Path) -> None:
    """Only the files a store consists of (and leftovers of an interrupted atomic write): never anything else."""
    for name in (META, PROGRESS, LABELS, IMAGES):
        (out / name).unlink(missing_ok=True)
    for leftover in out.glob(f".{IMAGES}.*"):
        leftover.unlink()


def _save_progress(out: Path, plan: dict, done: dict, images: Path) -> None:
    """Record the finished chunks, after making their rows durable."""
    from ..io import atomic_write
    if images.is_file():
        fd = os.open(images, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    atomic_write(out / PROGRESS, lambda f: json.dump({"plan": plan, "done": done}, f), text=True)


# ------------------------------------------------------------------------------------------------------------
# Decoding, in worker processes


def _tasks(src: _Source, todo: list[int]):
    for c in todo:
        a, b = c * CHUNK, min((c + 1) * CHUNK, len(src.names))
        if src.kind == "arrays":
            payload = np.ascontiguousarray(src.rows(a, b))
        else:
            payload = src.names[a:b]
        yield c, a, payload


def _run(src: _Source, todo: list[int], spec: tuple, images: Path, row_bytes: int, done: dict, skip_bad: bool,
         workers: int, progress: bool, save: Callable[[], None], log: Callable[[str], None]) -> None:
    """Decode the chunks in `todo`, recording each finished one in `done`; stop at the first unreadable file
    unless `skip_bad` (then each is reported in one line and left out)."""
    from tqdm import tqdm
    n = len(src.names)
    pool = ProcessPoolExecutor(workers) if workers > 0 and len(todo) > 1 else None
    if pool is not None:
        pool.submit(os.getpid).result()  # fork the workers now, before tqdm starts its monitor thread
    bar = tqdm(total=n, initial=n - sum(min(CHUNK, n - c * CHUNK) for c in todo), unit="img", disable=not progress,
               desc="prepare")
    first_bad: tuple[int, str, str] | None = None
    last_save = time.monotonic()

    def record(result) -> None:
        nonlocal first_bad, last_save
        c, digest, bad = result
        if bad and not skip_bad:
            j, err = bad[0]
            if first_bad is None or c * CHUNK + j < first_bad[0]:
                first_bad = (c * CHUNK + j, src.names[c * CHUNK + j], err)
            return
        done[str(c)] = {"sha256": digest, "skipped": [[src.names[c * CHUNK + j], err] for j, err in bad]}
        for j, err in bad:
            (bar.write if progress else log)(f"skipped unreadable image {_display(src, src.names[c * CHUNK + j])}: "
                                             f"{err}")
        bar.update(min(CHUNK, n - c * CHUNK))
        if time.monotonic() - last_save > SAVE_EVERY_S:
            save()
            last_save = time.monotonic()

    args = (src.kind, src.root, spec, str(images), row_bytes)
    try:
        if pool is None:
            for c, a, payload in _tasks(src, todo):
                record(_work(c, a, payload, *args))
                if first_bad is not None:
                    break
        else:
            pending: set = set()
            tasks = _tasks(src, todo)
            for task in tasks:
                pending.add(pool.submit(_work, *task, *args))
                if len(pending) >= 2 * workers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        record(fut.result())
                    if first_bad is not None:
                        break
            for fut in pending:  # the tasks already running finish (and count); an error stops the rest
                if first_bad is None or not fut.cancel():
                    record(fut.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        save()
    if first_bad is not None:
        raise DataError(f"cannot read image {_display(src, first_bad[1])}: {first_bad[2]}; replace the file and run "
                        f"the same command again (finished images are kept), or pass --skip-bad to leave unreadable "
                        f"files out")


def _display(src: _Source, name: str) -> str:
    if src.kind == "files":
        return str(Path(src.root) / name)
    return f"{name} in {src.root}" if src.kind == "zip" else f"image {name[1:]} of {src.root}"


def _message(e: Exception, name: str) -> str:
    """The error in one line, without memory addresses (store.json must be the same from run to run)."""
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", repr(name), f"{type(e).__name__}: {e}")
    return " ".join(re.sub(r" at 0x[0-9a-fA-F]+", "", text).split())


_ZIPS: dict[tuple[str, int], zipfile.ZipFile] = {}  # per worker process: a zip is opened once


def _member_bytes(root: str, member: str) -> bytes:
    if os.path.isdir(root):
        with open(os.path.join(root, member), "rb") as f:
            return f.read()
    key = (root, os.getpid())
    if key not in _ZIPS:
        _ZIPS[key] = zipfile.ZipFile(root)
    return _ZIPS[key].read(member)


def _work(c: int, row0: int, payload, kind: str, root: str, spec: tuple, images: str, row_bytes: int
          ) -> tuple[int, str, list[tuple[int, str]]]:
    """Decode one chunk, fit each image to the store's shape, write the rows in place. Returns (chunk, content
    hash of its source items, [(index in chunk, error)] of unreadable ones, whose rows are left zero)."""
    resolution, crop, filter, channels = spec
    if kind == "arrays":
        out = np.stack([fit(a, resolution, crop=crop, filter=filter, channels=channels) for a in payload])
        digest, bad = hashlib.sha256(payload.tobytes()).hexdigest(), []
    else:
        out = np.zeros((len(payload), resolution, resolution, channels), np.uint8)
        h, bad = hashlib.sha256(), []
        for j, name in enumerate(payload):
            try:
                data = _member_bytes(root, name)
                h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
                with Image.open(io.BytesIO(data)) as im:
                    out[j] = fit(im, resolution, crop=crop, filter=filter, channels=channels)
            except Exception as e:  # decoders raise all sorts: OSError, SyntaxError, ValueError, ...
                bad.append((j, _message(e, name)))
        digest = h.hexdigest()
    try:
        fd = os.open(images, os.O_WRONLY)
        try:
            os.pwrite(fd, out.tobytes(), row0 * row_bytes)
        finally:
            os.close(fd)
    except OSError as e:  # e.g. a full disk: the chunk is not recorded, a rerun writes it again
        raise DataError(f"cannot write {images}: {e}") from None
    return c, digest, bad


# ------------------------------------------------------------------------------------------------------------
# Completion


def _finish(out: Path, src: _Source, plan: dict, done: dict, images: Path, row_bytes: int,
            log: Callable[[str], None]) -> dict[str, Any]:
    from ..io import atomic_write
    n = len(src.names)
    chunks = [done[str(c)] for c in range(-(-n // CHUNK))]
    skipped = [entry for chunk in chunks for entry in chunk["skipped"]]
    keep = np.ones(n, bool)
    if skipped:
        index = {name: i for i, name in enumerate(src.names)}
        keep[[index[name] for name, _ in skipped]] = False
    kept = int(keep.sum())
    if kept == 0:
        raise DataError(f"every image of {src.root} was unreadable; nothing to prepare")
    if kept < n and images.stat().st_size == n * row_bytes:  # not yet compacted (a crash may come after it)
        def compact(f) -> None:
            with open(images, "rb") as old:
                for a in range(0, n, CHUNK):
                    rows = np.frombuffer(old.read(min(CHUNK, n - a) * row_bytes), np.uint8).reshape(-1, row_bytes)
                    f.write(rows[keep[a:a + CHUNK]].tobytes())
        atomic_write(images, compact)
    labels = src.labels[keep]
    atomic_write(out / LABELS, lambda f: np.save(f, labels.astype(np.int64)))
    content = hashlib.sha256("".join(c["sha256"] for c in chunks).encode()).hexdigest()
    s = plan["settings"]
    meta = {
        "format": FORMAT,
        "shape": [kept, s["resolution"], s["resolution"], s["channels"]],
        "dtype": "uint8",
        "layout": "NHWC",
        "num_classes": len(src.class_names),
        "class_names": list(src.class_names),
        "settings": s,
        "geometry": f"{GEOMETRY[s['crop']]}; filter {s['filter']}; modes converted with PIL convert("
                    f"'{'RGB' if s['channels'] == 3 else 'L'}')",
        "source": {"path": plan["source"], "kind": src.kind, "files": n, "listing_sha256": plan["listing_sha256"],
                   "content_sha256": content,
                   "content_hash": f"sha256 of the concatenated hex sha256 of each chunk of {CHUNK} items; a chunk "
                                   f"hashes each item's name, NUL and the sha256 of its bytes (decoded pixels for "
                                   f"array sources)"},
        "skipped": skipped,
    }
    atomic_write(out / META, lambda f: f.write(json.dumps(meta, indent=1) + "\n"), text=True)
    (out / PROGRESS).unlink(missing_ok=True)
    gib = kept * row_bytes / 2**30
    log(f"Wrote {out}: {kept} images of {s['resolution']}x{s['resolution']}x{s['channels']} ({gib:.2f} GiB), "
        f"{len(src.class_names)} classes" + (f"; skipped {len(skipped)} unreadable files (listed in {out / META})"
                                             if skipped else ""))
    return meta
