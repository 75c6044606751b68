"""Kernel Inception Distance (Bińkowski et al. 2018), as computed by torch-fidelity.

KID is the unbiased estimate of MMD² under the cubic polynomial kernel
``k(x, y) = (gamma * x·y + coef0) ** degree``, averaged over random equal-size subsets.
Subsets are drawn exactly as torch-fidelity does with input1=generated, input2=real (one
``np.random.RandomState(seed)``; per subset ``choice(n_fake, size, replace=False)``, then
``choice(n_real, ...)``), and the
arithmetic stays in the features' dtype (float32 features → float32 kernels, like
torch-fidelity) unless ``dtype`` is given; float64 is more accurate but differs slightly.
"""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """``(gamma * x @ y.T + coef0) ** degree``; gamma defaults to 1 / feature_dim."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (np.matmul(x, y.T) * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD² for m = n: off-diagonal means of K_XX and K_YY minus twice the mean of K_XY."""
    m = k_xx.shape[0]
    if k_xx.shape != (m, m) or k_xy.shape != (m, m) or k_yy.shape != (m, m):
        raise ValueError("kernel matrices must all be (m, m)")
    # Same summation order as torch-fidelity: row sums minus diagonal, then totals.
    sum_xx = (k_xx.sum(axis=1) - np.diagonal(k_xx)).sum()
    sum_yy = (k_yy.sum(axis=1) - np.diagonal(k_yy)).sum()
    sum_xy = k_xy.sum(axis=0).sum()
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2 * sum_xy / (m * m))


def kid_from_features(
    real: np.ndarray,
    fake: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 2020,
    dtype: np.dtype | type | None = None,
) -> tuple[float, float]:
    """(mean, std) of unbiased MMD² over ``subsets`` random subsets; defaults are torch-fidelity's."""
    real, fake = np.asarray(real), np.asarray(fake)
    if dtype is not None:
        real, fake = real.astype(dtype), fake.astype(dtype)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {real.shape} and {fake.shape}")
    n_real, n_fake = len(real), len(fake)
    if n_real < subset_size or n_fake < subset_size:
        raise ValueError(f"KID subset_size={subset_size} exceeds the number of samples ({n_real}, {n_fake})")
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):  # fake first: torch-fidelity's order with input1=generated, input2=real
        x = fake[rng.choice(n_fake, subset_size, replace=False)]
        y = real[rng.choice(n_real, subset_size, replace=False)]
        k = lambda a, b: polynomial_kernel(a, b, degree, gamma, coef0)  # noqa: E731
        mmds[i] = mmd2_unbiased(k(x, x), k(x, y), k(y, y))
    return float(mmds.mean()), float(mmds.std())
