"""Mean power spectrum of real against generated images (StudioGAN's `run_frequency_analysis`).

Upsampling layers leave periodic traces that are hard to see in pixels and plain in the Fourier domain
(checkerboard peaks, missing or excess high frequencies). As StudioGAN does, each image is turned to grey
(ITU-R 601 luma), its smooth content is removed by subtracting a median filter of 1/8 of the image size
(at least 3 px here, so small images still get one), and the log power of its centred 2-D FFT is averaged
over the images, in decibels. The radial profile (mean over rings of equal frequency) makes the two sets
comparable in one plot.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LUMA = (0.2989, 0.5870, 0.1140)


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, H, W); RGB by luma, one channel as is, otherwise the channel mean."""
    x = np.asarray(images, dtype=np.float64)
    if x.shape[-1] == 3:
        return x @ np.asarray(LUMA)
    return x.mean(axis=-1)


def highpass(grey: np.ndarray) -> np.ndarray:
    """Each image minus its median filter of size max(3, H // 8): the low frequencies that dominate every
    natural image's spectrum are removed, the generator's fine structure stays."""
    from scipy.ndimage import median_filter
    size = max(3, grey.shape[-2] // 8)
    return grey - median_filter(grey, size=(1, size, size), mode="reflect")


def mean_log_power(images: np.ndarray, remove_smooth: bool = True) -> np.ndarray:
    """Mean over images of 10·log10 |FFT|² (dB), centred (zero frequency at (H // 2, W // 2)): (H, W)."""
    grey = to_grey(images)
    if remove_smooth:
        grey = highpass(grey)
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey), axes=(-2, -1))) ** 2
    return (10 * np.log10(power + 1e-12)).mean(axis=0)


def radial_profile(spectrum: np.ndarray) -> np.ndarray:
    """Mean of a centred spectrum over rings of integer radius (in cycles per image) around zero frequency,
    radius 0 .. min(H, W) // 2."""
    h, w = spectrum.shape
    yy, xx = np.indices((h, w))
    r = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(int)
    n = min(h, w) // 2 + 1
    inside = r < n
    sums = np.bincount(r[inside], weights=spectrum[inside], minlength=n)
    counts = np.bincount(r[inside], minlength=n)
    return sums / np.maximum(counts, 1)


def write_figure(sampler, real_images: np.ndarray, out_dir: Path, num: int = 256, seed: int = 0,
                 truncation: float | None = None) -> tuple[Path, np.ndarray, np.ndarray]:
    """spectrum.png from `num` class-balanced generated images and `num` real ones (a fixed random choice);
    returns (path, real spectrum, generated spectrum)."""
    import torch

    from .. import plots
    from .neighbours import subset
    real, _ = subset(real_images, None, num, seed)
    fake = sampler.sample(torch.arange(min(num, len(real))) % sampler.num_classes, truncation=truncation,
                          seed=seed).numpy()
    r, f = mean_log_power(real), mean_log_power(fake)
    return plots.plot_spectrum(r, f, radial_profile(r), radial_profile(f), Path(out_dir) / "spectrum.png"), r, f
