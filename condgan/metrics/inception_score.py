"""Inception Score (Salimans et al. 2016) from classifier logits, as computed by torch-fidelity.

IS = exp(E_x KL(p(y|x) || p(y))), evaluated on ``splits`` consecutive chunks and reported as
(mean, std) over chunks. Like torch-fidelity: rows are first permuted with
``np.random.RandomState(seed).permutation(N)``, chunk i is rows ``[i*N//splits, (i+1)*N//splits)``,
softmax / log-softmax are taken in float64 over all logits given (1008 for the
torch-fidelity / TF Inception), and the std is the population std (ddof=0).
"""

from __future__ import annotations

import numpy as np
import torch


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10, shuffle: bool = True,
                    seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` chunks of (N, C) logits."""
    x = torch.as_tensor(np.asarray(logits) if not torch.is_tensor(logits) else logits).detach().cpu()
    if x.dim() != 2 or x.shape[0] < splits:
        raise ValueError(f"logits must be (N>=splits, C), got {tuple(x.shape)} with splits={splits}")
    n = x.shape[0]
    if shuffle:
        x = x[np.random.RandomState(seed).permutation(n), :]
    x = x.double()
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(kl.exp().item())
    return float(np.mean(scores)), float(np.std(scores))
