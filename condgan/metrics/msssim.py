"""MS-SSIM (Wang et al. 2003) and ACGAN's per-class MS-SSIM diversity score (Odena et al. 2017).

The computation matches ``pytorch_msssim.ms_ssim`` (1.0): separable 11-tap Gaussian (sigma 1.5)
with 'valid' borders, K1=0.01, K2=0.03, per-channel SSIM/contrast-structure means, ReLU on
them, 2x2 average pooling with zero padding of odd sides between scales, weighted geometric
mean over scales, then the mean over channels. Work is done in float64.

Small images: with an 11-tap window, 5 scales need a side > 160 px (the coarsest scale must
still hold one window), which is what pytorch-msssim asserts. We raise the same condition as
a ValueError instead of silently skipping the blur. ``class_msssim`` then, by default, keeps the
window and drops the coarsest scales (``scales=None``: as many of the 5 as fit, weights
renormalised to sum to 1); e.g. 32 px → 2 scales, 64 px → 3, 128 px → 4, >160 px → all 5.
Pass ``win_size``/``scales`` explicitly to choose otherwise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length ``size``, float64."""
    if size % 2 != 1:
        raise ValueError("window size must be odd")
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of (N, C, H, W), channel by channel.

    Written as a sum of shifted slices: on CPU this is far faster than a grouped conv2d.
    """
    n = win.numel()
    w_out, h_out = x.shape[-1] - n + 1, x.shape[-2] - n + 1
    x = sum(win[k] * x[..., :, k:k + w_out] for k in range(n))
    return sum(win[k] * x[..., k:k + h_out, :] for k in range(n))


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float,
             k1: float, k2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-(image, channel) mean SSIM and mean contrast-structure term."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = _blur(x, win), _blur(y, win)
    var_x = _blur(x * x, win) - mu_x**2
    var_y = _blur(y * y, win) - mu_y**2
    cov = _blur(x * y, win) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs
    return ssim.flatten(2).mean(-1), cs.flatten(2).mean(-1)


def max_scales(side: int, win_size: int = 11, limit: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Most scales (≤ limit) whose coarsest image side is still ≥ win_size; 0 if none."""
    scales = 0
    while scales < limit and side >= win_size:
        scales, side = scales + 1, (side + 1) // 2
    return scales


def ms_ssim(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, data_range: float = 255.0,
            win_size: int = 11, win_sigma: float = 1.5, weights: Sequence[float] = MS_SSIM_WEIGHTS,
            k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Per-image MS-SSIM of two (N, C, H, W) batches (uint8 → data_range 255); len(weights) scales."""
    x, y = torch.as_tensor(x).double(), torch.as_tensor(y).double()
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"need two (N, C, H, W) batches of equal shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    levels = len(weights)
    if max_scales(min(x.shape[-2:]), win_size, levels) < levels:
        raise ValueError(f"{min(x.shape[-2:])} px is too small for {levels} scales with a {win_size}-tap window; "
                         f"use fewer scales (max_scales) or a smaller win_size")
    win = gaussian_window(win_size, win_sigma).to(x.device)
    w = torch.tensor(weights, dtype=torch.float64, device=x.device)
    terms = []
    for i in range(levels):
        ssim, cs = _ssim_cs(x, y, win, data_range, k1, k2)
        if i < levels - 1:
            terms.append(cs.relu())
            pad = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    terms.append(ssim.relu())
    per_channel = torch.prod(torch.stack(terms) ** w.view(-1, 1, 1), dim=0)  # (N, C)
    return per_channel.mean(dim=1)


def class_msssim(images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, pairs_per_class: int = 100,
                 seed: int = 0, data_range: float = 255.0, win_size: int = 11, win_sigma: float = 1.5,
                 scales: int | None = None, batch_size: int = 256) -> dict:
    """ACGAN diversity: per class, mean MS-SSIM of random distinct pairs; lower = more diverse.

    Pairs (i, j), i != j, are drawn uniformly with replacement from ``np.random.default_rng(seed)``,
    classes in ascending order. ``scales=None`` uses as many of the 5 scales as the image size
    allows (see module docstring). Returns ``{"per_class": {class_id: msssim}, "mean": float}``;
    a class with fewer than 2 images raises ValueError.
    """
    images = torch.as_tensor(images)
    labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels).reshape(-1)
    if images.dim() != 4 or len(labels) != images.shape[0]:
        raise ValueError("images must be (N, C, H, W) with one label per image")
    if scales is None:
        scales = max_scales(min(images.shape[-2:]), win_size)
    if scales < 1:
        raise ValueError(f"images of {min(images.shape[-2:])} px cannot hold a {win_size}-tap window")
    weights = MS_SSIM_WEIGHTS[:scales]
    if scales < len(MS_SSIM_WEIGHTS):  # renormalise the kept weights into a weighted geometric mean
        weights = tuple((np.asarray(weights) / np.sum(weights)).tolist())
    rng = np.random.default_rng(seed)
    per_class: dict[int, float] = {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            raise ValueError(f"class {int(c)} has {len(idx)} image(s); need at least 2 for MS-SSIM pairs")
        i = rng.integers(len(idx), size=pairs_per_class)
        j = (i + rng.integers(1, len(idx), size=pairs_per_class)) % len(idx)
        a, b = torch.as_tensor(idx[i]), torch.as_tensor(idx[j])
        vals = [ms_ssim(images[a[s:s + batch_size]], images[b[s:s + batch_size]], data_range, win_size,
                        win_sigma, weights) for s in range(0, pairs_per_class, batch_size)]
        per_class[int(c)] = torch.cat(vals).mean().item()
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values())))}
