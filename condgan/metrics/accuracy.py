"""Top-k classification accuracy of logits against the labels the samples were conditioned on.

Used both for a dataset classifier on generated samples and for ACGAN's "Inception accuracy"
(Inception logits vs conditioned labels mapped to Inception's label space).
"""

from __future__ import annotations

import numpy as np
import torch


def topk_accuracy(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                  ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """``{k: accuracy}`` where a row counts if its label is among its k largest logits.

    k is clipped to the number of classes (top-5 of a 3-class problem is top-3, i.e. 1.0).
    Ties are broken by ``torch.topk``'s order.
    """
    x = logits if torch.is_tensor(logits) else torch.from_numpy(np.asarray(logits))
    y = labels if torch.is_tensor(labels) else torch.from_numpy(np.asarray(labels))
    x, y = x.detach().cpu(), y.detach().cpu().long().reshape(-1)
    if x.dim() != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"logits must be (N>0, C) with N labels, got {tuple(x.shape)} and {tuple(y.shape)}")
    if y.min() < 0 or y.max() >= x.shape[1]:
        raise ValueError(f"labels must lie in [0, {x.shape[1]})")
    top = x.topk(min(max(ks), x.shape[1]), dim=1).indices  # (N, kmax), best first
    hit = top == y[:, None]
    return {k: hit[:, : min(k, x.shape[1])].any(dim=1).double().mean().item() for k in ks}


def accuracy(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """(top-1, top-5) accuracy, with top-5 meaning top-min(5, classes)."""
    acc = topk_accuracy(logits, labels, (1, 5))
    return acc[1], acc[5]
