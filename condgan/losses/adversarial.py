"""Adversarial losses: pure functions of D's logits on real and fake images.

Convention: D losses take (real, fake); G losses take (fake, real), and non-relativistic ones ignore real.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Geometric-GAN / BigGAN hinge: mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    return -fake.mean()


def nonsaturating_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al.'s logistic loss: softplus(-D(x)) + softplus(D(G(z)))."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    return F.softplus(-fake).mean()

