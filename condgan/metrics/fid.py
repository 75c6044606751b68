"""Fréchet distance between Gaussians fitted to two feature sets (FID).

Two numerically different recipes are in common use and give slightly different numbers
near singular covariances, so both are offered:

* ``mode="torch-fidelity"`` (default): ``tr sqrt(S1 S2)`` as the sum of the real parts of
  the square roots of the eigenvalues of ``S1 @ S2`` (eigenvalues cast to complex first, so a
  slightly negative eigenvalue contributes 0 instead of NaN). No eps offset, never raises.
* ``mode="pytorch-fid"``: ``scipy.linalg.sqrtm(S1 @ S2)``; if that is not finite, retry with
  ``eps * I`` added to both covariances (eps=1e-6); then drop the imaginary part, raising
  ``ValueError`` when the diagonal's imaginary part exceeds 1e-3.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

Mode = Literal["torch-fidelity", "pytorch-fid"]


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``np.cov``, rowvar=False) of (N, D) features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be (N>=2, D), got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _trace_sqrt_product_eig(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    eig = np.linalg.eigvals(sigma1 @ sigma2).astype(np.complex128)
    return float(np.sqrt(eig).real.sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    from scipy import linalg  # lazy: only this mode needs scipy

    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(f"FID: singular covariance product; adding {eps} to the diagonals", RuntimeWarning)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    mode: Mode = "torch-fidelity",
    eps: float = 1e-6,
) -> float:
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2))``; ``eps`` is used by pytorch-fid mode only."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    if mode == "torch-fidelity":
        tr_covmean = _trace_sqrt_product_eig(sigma1, sigma2)
    elif mode == "pytorch-fid":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"unknown FID mode {mode!r}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(real: np.ndarray, fake: np.ndarray, mode: Mode = "torch-fidelity") -> float:
    """FID between two (N, D) feature arrays (e.g. Inception pool3, D=2048)."""
    mu1, sigma1 = feature_statistics(real)
    mu2, sigma2 = feature_statistics(fake)
    return frechet_distance(mu1, sigma1, mu2, sigma2, mode=mode)
