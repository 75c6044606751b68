"""Zero-centred gradient penalties R1 (on real data) and R2 (on fake data), both needed by R3GAN.

Both are ||grad_x D(x)||^2 averaged over a batch and weighted by gamma/2; they differ only in which images x
are. One backward pass serves both when D sees real and fake images in one batch:

    x = torch.cat([real, fake.detach()]).requires_grad_(True)
    adv = D(x, torch.cat([y_real, y_fake]))["adv"]
    g2 = gradient_norm_squared(adv, x)
    r1, r2 = g2[:len(real)].mean(), g2[len(real):].mean()
    loss = rpgan_d(adv[:len(real)], adv[len(real):]) + gamma / 2 * (r1 + r2)

This is exact because D treats samples independently (no batch statistics): the gradient of the summed
logits with respect to sample i is the gradient of logit i alone.
"""
from __future__ import annotations

import torch


def gradient_norm_squared(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """(B,) squared norm of the gradient of sum(outputs) with respect to each sample of `inputs`.

    The graph is kept (create_graph=True) so the penalty itself can be backpropagated into D.
    """
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(dim=1)
