"""Regularisers that act on weights rather than on network outputs."""
from __future__ import annotations

import torch
from torch import nn


def orthogonal_penalty(weight: torch.Tensor) -> torch.Tensor:
    """BigGAN's orthogonal regularisation, off-diagonal form: ||W W^T (.) (1 - I)||_F^2.

    W is reshaped to (out, fan_in). Only the off-diagonal terms are penalised, so filters are pushed to be
    mutually orthogonal while their norms stay free (Brock et al. 2019, Sec. 3.1).
    """
    w = weight.flatten(1)
    gram = w @ w.t()
    off = gram - torch.diag_embed(torch.diagonal(gram))
    return off.square().sum()


def orthogonal_regularisation(module: nn.Module, beta: float, skip: tuple[nn.Module, ...] = ()) -> torch.Tensor:
    """beta/2 * sum of `orthogonal_penalty` over every matrix/conv weight of `module` (raw weights, i.e.
    before spectral normalisation; 1-D parameters and the weights of `skip` modules excluded).

    The 1/2 makes the gradient, beta * 2 (W W^T (.) (1 - I)) W, equal to the one the official BigGAN-PyTorch
    code adds to the weights' gradients, so beta = 1e-4 means what it means there.
    """
    skipped = {id(p) for m in skip for p in m.parameters()}
    weights = [p for p in module.parameters() if p.ndim >= 2 and id(p) not in skipped and p.requires_grad]
    total = None
    with torch.autocast(weights[0].device.type if weights else "cpu", enabled=False):  # fp32 Gram matrices
        for p in weights:
            term = orthogonal_penalty(p.float())
            total = term if total is None else total + term
    if total is None:
        return torch.zeros((), device=next(module.parameters()).device)
    return 0.5 * beta * total
