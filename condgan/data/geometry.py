"""One image of any size and mode to the training shape, the way the official dataset tools do it.

`condgan prepare` applies this once per image, so a store made from raw ImageNet, CUB or FFHQ holds the same
pixels as the official tools would have given their training code:

- mode: PIL's `convert('RGB')` (or `convert('L')` for a one-channel store), as StyleGAN3's `dataset_tool.py`
  and torchvision's `ImageFolder` (StudioGAN's reader) do: greyscale is repeated, CMYK and palettes are
  converted, alpha is dropped (not composited);
- crop `center`: StyleGAN/R3GAN `dataset_tool.py --transform=center-crop`: the central square of side
  min(H, W), offsets rounded down, then resized;
- crop `none`: `dataset_tool.py` without `--transform`: resized to N x N, aspect ratio not kept;
- crop `studiogan`: StudioGAN's `CenterCropLongEdge` (torchvision `center_crop`, offsets rounded to nearest)
  then `Resize(N)`;
- filter: Lanczos by default (`dataset_tool.py` always; StudioGAN's `--pre_resizer lanczos`); StudioGAN's
  other resizers are available. An image already N x N is never resampled (both tools leave it as is).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

CROPS = ("center", "none", "studiogan")
FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
           "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX,
           "nearest": Image.Resampling.NEAREST}


def crop_box(width: int, height: int, crop: str) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the square `crop` keeps, or None for the whole image."""
    if crop == "none" or width == height:
        return None
    s = min(width, height)
    if crop == "center":  # dataset_tool: (size - crop) // 2
        left, top = (width - s) // 2, (height - s) // 2
    else:  # torchvision center_crop: int(round((size - crop) / 2.0)), Python's round-half-to-even
        left, top = int(round((width - s) / 2.0)), int(round((height - s) / 2.0))
    return left, top, left + s, top + s


def fit(image: Image.Image | np.ndarray, resolution: int, *, crop: str = "center", filter: str = "lanczos",
        channels: int = 3) -> np.ndarray:
    """`image` (PIL, or uint8 HxW / HxWxC) as uint8 (resolution, resolution, channels)."""
    if isinstance(image, np.ndarray):
        a = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        image = Image.fromarray(a)
    mode = "RGB" if channels == 3 else "L"
    if image.mode != mode:
        image = image.convert(mode)
    box = crop_box(image.width, image.height, crop)
    if box is not None:
        image = image.crop(box)
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), FILTERS[filter])
    a = np.asarray(image, dtype=np.uint8)
    return a[..., None] if a.ndim == 2 else a
