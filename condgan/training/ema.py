"""Exponential moving average of G's weights, and standing BatchNorm statistics for the averaged G."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class EMA:
    """G_ema <- decay * G_ema + (1 - decay) * G from `start` on; before `start` G_ema copies G.

    Buffers (BatchNorm statistics, spectral-norm vectors) are copied, not averaged.
    """

    def __init__(self, decay: float, start: int):
        self.decay, self.start = decay, start

    @torch.no_grad()
    def update(self, G_ema: nn.Module, G: nn.Module, step: int) -> None:
        decay = self.decay if step >= self.start else 0.0
        ema_params = list(G_ema.parameters())
        params = [p.detach() for p in G.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)


@torch.no_grad()
def standing_stats(G: nn.Module, sample_inputs: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                   batches: int) -> None:
    """Re-estimate G's BatchNorm running statistics as a plain average over `batches` fresh batches.

    Why: the EMA generator's weights never produced the running statistics it inherited from G; BigGAN
    samples with statistics re-measured on the averaged weights ("standing statistics").
    Only the BatchNorm layers run in training mode, so spectral-norm vectors are left untouched.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches <= 0:
        return
    was_training = G.training
    saved = [m.momentum for m in bns]
    G.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    for _ in range(batches):
        z, y = sample_inputs()
        G(z, y)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    G.train(was_training)
    if not was_training:
        for m in bns:
            m.eval()
