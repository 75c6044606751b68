"""Relativistic pairing GAN loss (RpGAN; Jolicoeur-Martineau, 2019), the adversarial loss of R3GAN.

D scores each real image against its paired fake one, so G is pushed to make every fake look more real than
a real image, not just to cross a fixed boundary; with R1 + R2 this removes the mode dropping of the
non-saturating loss (Huang et al., 2024). Real and fake logits are paired element-wise: both (B,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rpgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """mean softplus(D(G(z)) - D(x))."""
    return F.softplus(fake - real).mean()


def rpgan_g(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean softplus(D(x) - D(G(z))); unlike other G losses it needs D's logits on real images too."""
    return F.softplus(real - fake).mean()
