"""An .npz with x (N, H, W[, C]) uint8, y (N,) int and optionally class_names, or the Keras-style
x_train/y_train and x_test/y_test."""
from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError


def read_npz(path: Path, split: str = "train") -> tuple[np.ndarray, list[str] | None, np.ndarray]:
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
