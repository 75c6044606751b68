"""Read labelled images from any supported source into one type, `LabelledImages`.

The rest of the library never needs to know whether the data came from the embedded digits, a .npz
file, a folder of class folders or a CIFAR archive; and every way the input can be wrong is caught
here, once, with a message that names the culprit.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
ACCEPTED = (
    "'digits' (the embedded 8x8 digits, upsampled to 32x32), a .npz file with arrays x and y, "
    "a directory with one sub-folder of images per class, a CIFAR-10/100 python archive "
    "(cifar-10-python.tar.gz / cifar-100-python.tar.gz), or 'stacked-mnist:PATH' with PATH an MNIST .npz"
)
STACKED_MNIST = "stacked-mnist:"
STACKED_MNIST_DRAWS = {"train": (60000, 0), "test": (10000, 1)}  # split -> (images, seed): fixed, reproducible

# ----------------------------------------------------------------------------


@dataclass
class LabelledImages:
    """N images with integer class labels, held in memory (`images`) or left on disk (`files`)."""

    labels: np.ndarray  # int64, (N,)
    class_names: list[str]  # len == num_classes
    images: np.ndarray | None  # uint8, (N, H, W, C) when held in memory
    files: list[str] | None  # image paths when streamed from disk instead (then images is None)
    shape: tuple[int, int, int]  # (H, W, C) of every image
    source: str  # human-readable origin, for messages and logs

    def __post_init__(self) -> None:
        if (self.images is None) == (self.files is None):
            raise ValueError("LabelledImages needs exactly one of images and files")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def resolution(self) -> int:
        return self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[2]

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # the dataclass default would print the pixels
        where = "in memory" if self.images is not None else "on disk"
        return (f"LabelledImages({self.source!r}, {len(self)} images of {self.shape}, "
                f"{self.num_classes} classes, {where})")


def load_images(source: str | os.PathLike, *, split: str = "train", num_classes: int | None = None,
                max_resident_bytes: int = 8 << 30) -> LabelledImages:
    """Load labelled images from `source`: 'digits', a .npz file, a class-folder directory, a CIFAR archive or
    'stacked-mnist:PATH' (1000-class Stacked MNIST drawn with a fixed seed from the MNIST .npz at PATH).

    `split` ('train' or 'test') matters for CIFAR and for npz files holding x_train/x_test; the other
    sources are a single set and ignore it. `num_classes`, if given, is checked against the labels and class names. A class-folder
    directory larger than `max_resident_bytes` is not decoded but returned as `files`, to be streamed.
    The string 'digits' always means the embedded set; write './digits' for a folder of that name.
    """
    if split not in ("train", "test"):
        raise DataError(f"split={split!r} is not supported; use 'train' or 'test'")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):
        raise DataError(f"num_classes={num_classes!r} must be a positive integer or None (infer it)")
    if isinstance(source, str) and source == "digits":
        labels, names, images, where = _read_digits()
        return _finish(labels, names, num_classes, where, images=images)
    if isinstance(source, str) and source.startswith(STACKED_MNIST):
        labels, names, images, where = _read_stacked_mnist(source.removeprefix(STACKED_MNIST), split)
        return _finish(labels, names, num_classes, where, images=images)

    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {str(source)!r} does not exist; pass {ACCEPTED}")
    if path.is_dir():
        labels, names, images, files, shape = _read_folder(path, max_resident_bytes)
        return _finish(labels, names, num_classes, str(path), images=images, files=files, shape=shape)
    if path.suffix.lower() == ".npz":
        labels, names, images = _read_npz(path, split)
        return _finish(labels, names, num_classes, str(path), images=images)
    if path.name.lower().endswith((".tar", ".tar.gz", ".tgz")) or _is_tar(path):
        labels, names, images, where = _read_cifar(path, split)
        return _finish(labels, names, num_classes, where, images=images)
    raise DataError(f"don't know how to read {path}; pass {ACCEPTED}")


def _finish(labels: np.ndarray, class_names: list[str] | None, num_classes: int | None, where: str, *,
            images: np.ndarray | None = None, files: list[str] | None = None,
            shape: tuple[int, int, int] | None = None) -> LabelledImages:
    """Check labels against the class count (however it was given) and assemble the result."""
    if class_names is not None and num_classes is not None and len(class_names) != num_classes:
        raise DataError(f"{where} has {len(class_names)} classes but num_classes={num_classes}; "
                        f"leave num_classes unset or make the two agree")
    if num_classes is not None:
        k, origin = int(num_classes), "num_classes"
    elif class_names is not None:
        k, origin = len(class_names), "len(class_names)"
    else:
        k, origin = int(labels.max()) + 1, "max label + 1"
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{where}: label {labels[i]} at index {i} is outside [0, {k}) ({k} = {origin}); "
                        f"labels must be class ids 0..{k - 1}: fix the labels or pass a larger num_classes")
    if class_names is None:
        class_names = [str(c) for c in range(k)]
    if shape is None:
        shape = tuple(images.shape[1:])
    return LabelledImages(labels=labels.astype(np.int64), class_names=list(class_names), images=images,
                          files=files, shape=shape, source=where)


# ----------------------------------------------------------------------------
# The embedded default: scikit-learn's bundled 8x8 digits (no download).


def _read_digits() -> tuple[np.ndarray, list[str], np.ndarray, str]:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1797 images, values 0..16
    x = torch.from_numpy(digits.images.astype(np.float32) * (255 / 16))[:, None]
    x = F.interpolate(x, size=(32, 32), mode="bicubic", align_corners=False)  # smooth, not blocky
    images = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return digits.target, [str(c) for c in range(10)], images, "digits (scikit-learn 8x8, upsampled to 32x32)"


# ----------------------------------------------------------------------------
# 'stacked-mnist:PATH': three MNIST digits as R, G, B (condgan.data.stacked_mnist).


def _read_stacked_mnist(path: str, split: str) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    from .stacked_mnist import read_stacked_mnist
    if not path:
        raise DataError(f"data source {STACKED_MNIST!r} names no file; write {STACKED_MNIST}PATH/mnist.npz")
    n, seed = STACKED_MNIST_DRAWS[split]
    x, y = read_stacked_mnist(path, n, seed, split=split)
    images = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    where = f"{STACKED_MNIST}{path} ({split}, {n} images, seed {seed})"
    return y, [f"{k:03d}" for k in range(1000)], images, where


# ----------------------------------------------------------------------------
# .npz with x (N, H, W[, C]) uint8, y (N,) int and optionally class_names.


def _read_npz(path: Path, split: str = "train") -> tuple[np.ndarray, list[str] | None, np.ndarray]:
    """`x`/`y`, or else the split's `x_train`/`y_train` (`x_test`/`y_test`), the Keras-style layout."""
    hint = "write it with np.savez(path, x=images_uint8_NHWC, y=int_labels)"
    try:
        with open(path, "rb") as f:  # ours to close, even when np.load fails halfway
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise DataError(f"{path} holds a single .npy array, not an .npz archive; {hint}")
            keys = list(z.files)
            kx, ky = ("x", "y") if "x" in keys or "y" in keys else (f"x_{split}", f"y_{split}")
            missing = [k for k in (kx, ky) if k not in keys]
            if missing:
                raise DataError(f"{path} has no {' or '.join(map(repr, missing))} array (it has {keys}); {hint}")
            x, y = z[kx], z[ky]
            try:
                names = z["class_names"] if "class_names" in keys else None
            except ValueError as e:  # an object array, which would need pickle
                raise DataError(f"class_names in {path} cannot be read without pickle ({e}); "
                                f"save it as a string array: class_names=np.array(names, dtype=str)") from e
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise DataError(f"{path} is unreadable (truncated or corrupt?): {type(e).__name__}: {e}; {hint}") from e

    if x.dtype != np.uint8:
        raise DataError(f"x in {path} has dtype {x.dtype}; images must be uint8 with values 0..255, "
                        f"e.g. x = (x * 255).round().astype(np.uint8) for floats in [0, 1]")
    if x.ndim == 3:
        x = x[..., None]  # grayscale
    if x.ndim != 4:
        raise DataError(f"x in {path} has shape {x.shape}; expected (N, H, W, C), or (N, H, W) for grayscale")
    if x.shape[3] not in (1, 3):
        nchw = " (channels first? use x.transpose(0, 2, 3, 1))" if x.shape[1] in (1, 3) else ""
        raise DataError(f"x in {path} has shape {x.shape}: {x.shape[3]} channels; expected 1 or 3 in the "
                        f"last axis{nchw}")
    if y.ndim != 1:
        raise DataError(f"y in {path} has shape {y.shape}; expected (N,) class ids, e.g. y = y.reshape(-1)")
    if y.dtype.kind not in "iu":
        raise DataError(f"y in {path} has dtype {y.dtype}; labels must be integer class ids, "
                        f"e.g. y = y.astype(np.int64)")
    if len(x) != len(y):
        raise DataError(f"{path} has {len(x)} images in x but {len(y)} labels in y; they must match")
    if len(x) == 0:
        raise DataError(f"{path} holds no images (x is empty)")
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"class_names in {path} has shape {names.shape} and dtype {names.dtype}; "
                            f"expected a 1-D string array, e.g. np.array(['cat', 'dog'])")
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return y, names, np.ascontiguousarray(x)


# ----------------------------------------------------------------------------
# A directory with one sub-folder of images per class.


def _read_folder(root: Path, max_resident_bytes: int
                 ) -> tuple[np.ndarray, list[str], np.ndarray | None, list[str] | None, tuple[int, int, int]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir())
        hint = " (it holds images directly: move them into one sub-folder per class)" if loose else ""
        raise DataError(f"{root} has no class sub-folders{hint}; expected one sub-folder of images per "
                        f"class, e.g. {root / 'cat' / '0001.png'}")
    files: list[str] = []
    labels: list[int] = []
    firsts: list[int] = []  # index of each class's first file
    for k, folder in enumerate(classes):
        found = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise DataError(f"class folder {folder} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)}, "
                            f"not recursively); add images or remove the folder")
        firsts.append(len(files))
        files += found
        labels += [k] * len(found)

    first = _decode(files[0])
    h, w = first.shape[:2]
    names = [p.name for p in classes]
    if len(files) * h * w * (1 if first.ndim == 2 else 3) <= max_resident_bytes:
        images = _decode_all(files, first)
        return np.array(labels), names, images, None, tuple(images.shape[1:])

    # Too large for memory: keep the paths, but at least check the first image of every class.
    heads = [first] + [_decode(files[i]) for i in firsts[1:]]
    for i, a in zip(firsts, heads):
        _check_size(a, files[i], (h, w), files[0])
    c = 1 if all(a.ndim == 2 for a in heads) else 3
    return np.array(labels), names, None, files, (h, w, c)


def _decode(file: str) -> np.ndarray:
    """One image file as uint8 (H, W) if grayscale, else (H, W, 3)."""
    try:
        with Image.open(file) as im:
            im.load()
            return np.array(im.convert("L" if im.mode in ("1", "L") else "RGB"))  # a writable copy
    except Exception as e:  # decoders raise all sorts: OSError, SyntaxError, ValueError, ...
        raise DataError(f"cannot read image {file}: {type(e).__name__}: {e}; delete or replace the file") from e


def _check_size(a: np.ndarray, file: str, hw: tuple[int, int], ref: str) -> None:
    if a.shape[:2] != hw:
        raise DataError(f"{file} is {a.shape[0]}x{a.shape[1]} (HxW) but {ref} is {hw[0]}x{hw[1]}; "
                        f"all images must have the same size: resize them first")


def read_image(file: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode one file of a streamed data set to uint8 `shape` (H, W, C), or say why it does not fit."""
    a = _decode(file)
    _check_size(a, file, shape[:2], "the data set")
    if a.ndim == 2:
        return np.repeat(a[..., None], shape[2], axis=2)  # same as PIL's L -> RGB
    if shape[2] == 1:
        raise DataError(f"{file} is a color image but the data set was judged grayscale from the first image "
                        f"of each class; convert it to grayscale or make all images RGB")
    return a


def _decode_all(files: list[str], first: np.ndarray) -> np.ndarray:
    """Decode every file in a thread pool; RGB unless all of them are grayscale."""
    h, w = first.shape[:2]
    out = np.empty((len(files), h, w, 1 if first.ndim == 2 else 3), np.uint8)
    color: dict[int, np.ndarray] = {}  # color images met while `out` is still grayscale

    def work(start: int) -> None:
        for i in range(start, min(start + 256, len(files))):
            a = _decode(files[i])
            _check_size(a, files[i], (h, w), files[0])
            if a.ndim == 2:
                out[i] = a[..., None]  # broadcasts over 3 channels if out is RGB
            elif out.shape[3] == 3:
                out[i] = a
            else:
                color[i] = a

    pool = ThreadPoolExecutor(min(16, os.cpu_count() or 1))
    try:
        for _ in pool.map(work, range(0, len(files), 256)):
            pass
    finally:
        pool.shutdown(cancel_futures=True)
    if color:
        out = np.repeat(out, 3, axis=3)
        for i, a in color.items():
            out[i] = a
    return out


# ----------------------------------------------------------------------------
# The original CIFAR-10 / CIFAR-100 python archives, read straight from the tar.

_CIFAR = {
    "cifar-10-batches-py": dict(train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                                meta="batches.meta", names=b"label_names", labels=b"labels"),
    "cifar-100-python": dict(train=["train"], test=["test"], meta="meta", names=b"fine_label_names",
                             labels=b"fine_labels"),
}


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _read_cifar(path: Path, split: str) -> tuple[np.ndarray, list[str], np.ndarray, str]:
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
