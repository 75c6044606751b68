"""A directory with one sub-folder of images per class (sorted names become class ids), decoded into memory
or, when larger than `max_resident_bytes`, left on disk as file paths to stream."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
# what `condgan prepare` lists: torchvision's IMG_EXTENSIONS (StudioGAN's ImageFolder) plus the above
PREPARE_EXTENSIONS = IMAGE_EXTENSIONS + (".ppm", ".pgm", ".tif", ".tiff")


def list_image_tree(root: Path) -> tuple[list[str], list[int], list[str]]:
    """(files, labels, class names) of a class-folder tree as torchvision's `ImageFolder` lists it (StudioGAN's
    reader): sorted sub-folder names are the classes, each searched recursively (links followed) in sorted
    order, so raw ImageNet, Tiny-ImageNet (`CLASS/images/*.JPEG`) and CUB's `images/` list as their own tools
    list them. Nothing is decoded."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders; expected one sub-folder of images per class, e.g. "
                        f"{root / 'cat' / '0001.jpg'}")
    files: list[str] = []
    labels: list[int] = []
    for k, folder in enumerate(classes):
        found = [os.path.join(dirpath, name) for dirpath, _, names in sorted(os.walk(folder, followlinks=True))
                 for name in sorted(names) if name.lower().endswith(PREPARE_EXTENSIONS)]
        if not found:
            raise DataError(f"class folder {folder} contains no images (looked for {', '.join(PREPARE_EXTENSIONS)}, "
                            f"recursively); add images or remove the folder")
        files += found
        labels += [k] * len(found)
    return files, labels, [p.name for p in classes]


def read_folder(root: Path, max_resident_bytes: int
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
