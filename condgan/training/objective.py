"""The GAN objective: which losses each phase minimises. The training loop only calls `d_loss` and
`g_loss`; methods differ by the parts composed here (adversarial loss, D head, regularisers), never by
their own loop.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..losses import ADVERSARIAL, orthogonal_regularisation


class Objective:
    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module):
        self.G, self.D = G, D
        self.adv_d, self.adv_g = ADVERSARIAL[cfg.loss.adversarial]
        self.g_ortho, self.d_ortho = cfg.loss.g_ortho, cfg.loss.d_ortho

    def d_loss(self, x_real: torch.Tensor, y_real: torch.Tensor, x_fake: torch.Tensor,
               y_fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on one real and one (detached) fake batch, evaluated in a single forward pass."""
        out = self.D(torch.cat([x_real, x_fake]), torch.cat([y_real, y_fake]))
        real, fake = out["adv"].float().split([len(x_real), len(x_fake)])
        loss = self.adv_d(real, fake)
        stats = {"D/loss": loss.detach(), "D/real": real.detach().mean(), "D/fake": fake.detach().mean()}
        if self.d_ortho > 0:
            ortho = orthogonal_regularisation(self.D, self.d_ortho)
            loss = loss + ortho
            stats["D/ortho"] = ortho.detach()
        return loss, stats

    def g_loss(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fake = self.D(self.G(z, y), y)["adv"].float()
        loss = self.adv_g(fake)
        stats = {"G/loss": loss.detach()}
        if self.g_ortho > 0:
            ortho = orthogonal_regularisation(self.G, self.g_ortho, skip=(self.G.shared,))
            loss = loss + ortho
            stats["G/ortho"] = ortho.detach()
        return loss, stats
