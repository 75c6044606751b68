"""k-NN manifold metrics: improved precision/recall and density/coverage.

* Precision / recall (Kynkäänniemi et al. 2019) follow torch-fidelity's ``prc``: float32
  ``torch.cdist`` distances, k=3, radius = distance to the k-th nearest *other* sample
  (``kthvalue(k + 1)`` counting the sample itself), and a point is inside a ball when
  ``dist <= radius``.
* Density / coverage (Naeem et al. 2020) follow the ``prdc`` package (0.2): k=5, the same
  radius definition, strict ``dist < radius``; distances in float64 (sklearn computes
  euclidean distances of float32 input with a float64 up-cast).

Everything is computed in row blocks of ``batch_size``, so only (batch_size, N) distance
blocks and O(N) vectors are ever held: with 50k samples a block is ~1 GB in float32
(precision/recall) or ~2 GB in float64 (density/coverage) at batch_size=5000; lower it to save memory.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x: np.ndarray | torch.Tensor, dtype: torch.dtype, device: str | torch.device | None) -> torch.Tensor:
    t = x if torch.is_tensor(x) else torch.from_numpy(np.asarray(x))
    return t.detach().to(device=device, dtype=dtype)


def knn_radii(x: torch.Tensor, k: int, batch_size: int = 5000) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (the row itself counts as the 1st)."""
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples, got {x.shape[0]}")
    return torch.cat([torch.cdist(xb, x).kthvalue(k + 1, dim=1).values for xb in x.split(batch_size)])


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3,
                     batch_size: int = 5000, device: str | torch.device | None = None) -> tuple[float, float]:
    """(precision, recall): the fraction of fake inside the real k-NN balls and vice versa."""
    real, fake = _as_tensor(real, torch.float32, device), _as_tensor(fake, torch.float32, device)
    r_real, r_fake = knn_radii(real, k, batch_size), knn_radii(fake, k, batch_size)
    fake_in_real = []
    real_in_fake = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for fb, rb in zip(fake.split(batch_size), r_fake.split(batch_size)):
        d = torch.cdist(fb, real)  # (fake batch, real)
        fake_in_real.append((d <= r_real[None, :]).any(dim=1))
        real_in_fake |= (d <= rb[:, None]).any(dim=0)
    precision = torch.cat(fake_in_real).float().mean().item()
    return precision, real_in_fake.float().mean().item()


def density_coverage(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5,
                     batch_size: int = 5000, device: str | torch.device | None = None,
                     dtype: torch.dtype = torch.float64) -> tuple[float, float]:
    """(density, coverage): mean real-ball count per fake / k, and the fraction of real balls hit."""
    real, fake = _as_tensor(real, dtype, device), _as_tensor(fake, dtype, device)
    r_real = knn_radii(real, k, batch_size)
    count = torch.zeros((), dtype=torch.float64, device=real.device)
    nearest_fake = torch.full((real.shape[0],), float("inf"), dtype=dtype, device=real.device)
    for fb in fake.split(batch_size):
        d = torch.cdist(fb, real)  # (fake batch, real)
        count += (d < r_real[None, :]).sum(dtype=torch.float64)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
    density = count.item() / (k * fake.shape[0])
    coverage = (nearest_fake < r_real).double().mean().item()
    return density, coverage


def prdc(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k_pr: int = 3, k_dc: int = 5,
         batch_size: int = 5000, device: str | torch.device | None = None) -> dict[str, float]:
    """Precision, recall (torch-fidelity, k=3) and density, coverage (prdc, k=5) in one dict."""
    precision, recall = precision_recall(real, fake, k_pr, batch_size, device)
    density, coverage = density_coverage(real, fake, k_dc, batch_size, device)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
