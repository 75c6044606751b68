"""Differentiable augmentations applied to both real and fake images before D.

DiffAugment (Zhao et al. 2020) lets D see augmented images without G learning to produce them: the same
random ops act on reals and fakes, and gradients flow through them back to G. `cr_augment` is the
flip-and-shift of consistency regularisation (Zhang et al. 2020).

Images are NCHW in [-1, 1]. Every random draw comes from `generator` (on x.device) and has a fixed shape
whatever `p` is, so a seed fixes the output and the ops never read anything back to the host.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One U(0, 1) per sample, shaped (B, 1, 1, 1) to broadcast over an image."""
    u = torch.rand(x.shape[0], generator=generator, device=x.device)
    return u.to(x.dtype).view(-1, 1, 1, 1)


def _coin(x: torch.Tensor, p: float | torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Per-sample bool: apply this op? rand < p is never true at p=0 and always true at p=1."""
    return torch.rand(x.shape[0], generator=generator, device=x.device) < p


def _shift(x: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, pad_x: int, pad_y: int,
           mode: str) -> torch.Tensor:
    """Move sample b by (tx[b], ty[b]) pixels (|t| <= pad): pad, then gather each output pixel's source.

    Gather (not slicing in a loop) keeps per-sample shifts in one op, and its backward routes gradients.
    """
    b, c, h, w = x.shape
    xp = F.pad(x, (pad_x, pad_x, pad_y, pad_y), mode=mode)
    rows = torch.arange(h, device=x.device) - ty[:, None] + pad_y            # (B, H) into padded rows
    cols = torch.arange(w, device=x.device) - tx[:, None] + pad_x            # (B, W) into padded cols
    xp = xp.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad_x))
    return xp.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def _random_shifts(x: torch.Tensor, ratio: float, generator: torch.Generator | None
                   ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    h, w = x.shape[2:]
    pad_x, pad_y = int(w * ratio + 0.5), int(h * ratio + 0.5)
    tx = torch.randint(-pad_x, pad_x + 1, (x.shape[0],), generator=generator, device=x.device)
    ty = torch.randint(-pad_y, pad_y + 1, (x.shape[0],), generator=generator, device=x.device)
    return tx, ty, pad_x, pad_y


def _color(x: torch.Tensor, p: float | torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    x = torch.where(_coin(x, p, g)[:, None, None, None], x + (_uniform(x, g) - 0.5), x)      # brightness
    mean = x.mean(dim=1, keepdim=True)                                                         # per pixel
    x = torch.where(_coin(x, p, g)[:, None, None, None], mean + (x - mean) * (2 * _uniform(x, g)), x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)                                                 # per image
    return torch.where(_coin(x, p, g)[:, None, None, None], mean + (x - mean) * (_uniform(x, g) + 0.5), x)


def _translation(x: torch.Tensor, p: float | torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    apply = _coin(x, p, g)
    tx, ty, pad_x, pad_y = _random_shifts(x, 0.125, g)
    return _shift(x, tx * apply, ty * apply, pad_x, pad_y, "constant")  # not applied = shift by 0


def _cutout(x: torch.Tensor, p: float | torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Zero a square of half the image size (clipped at the borders). As in the official DiffAugment, its centre
    is drawn from 0..size inclusive when the cut size is even (0..size-1 when odd), so that every position,
    the last row and column included, is cut equally often."""
    apply = _coin(x, p, g)
    b, _, h, w = x.shape
    size_y, size_x = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    top = torch.randint(0, h + 1 - size_y % 2, (b, 1), generator=g, device=x.device) - size_y // 2
    left = torch.randint(0, w + 1 - size_x % 2, (b, 1), generator=g, device=x.device) - size_x // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys >= top) & (ys < top + size_y)                                 # (B, H)
    in_cols = (xs >= left) & (xs < left + size_x)                               # (B, W)
    cut = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]      # (B, H, W)
    return x * (~cut)[:, None].to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout", p: float | torch.Tensor = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """DiffAugment: each op of `policy` (comma-separated, in order) hits each sample with probability p.

    `color` is brightness + U(-0.5, 0.5), saturation x U(0, 2) around the per-pixel channel mean and
    contrast x U(0.5, 1.5) around the image mean (each its own coin); `translation` shifts by up to 1/8 of
    the size with zeros; `cutout` zeroes a half-size square. `p` may be a 0-dim tensor on x's device (ADA).
    """
    names = [name.strip() for name in policy.split(",") if name.strip()]
    for name in names:
        if name not in _OPS:
            raise ValueError(f"Unknown DiffAugment op '{name}' in policy '{policy}'; "
                             f"valid ops: {', '.join(POLICIES)}.")
    for name in names:
        x = _OPS[name](x, p, generator)
    return x


def cr_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """CR-GAN's augmentation: random horizontal flip, then a shift of up to 1/8 with reflection padding.

    Reflection (not zeros) keeps the image statistics, so D is asked to be invariant to a change of view
    only, which is what the consistency term should teach.
    """
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    tx, ty, pad_x, pad_y = _random_shifts(x, 0.125, generator)
    return _shift(x, tx, ty, pad_x, pad_y, "reflect")
