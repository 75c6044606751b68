"""Building blocks shared by the backbones: spectral norm, conditional BatchNorm, self-attention, init."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def apply_spectral_norm(module: nn.Module, skip: tuple[nn.Module, ...] = ()) -> nn.Module:
    """Wrap every conv, linear and embedding weight in spectral norm (one power iteration per forward).

    Uses PyTorch's own parametrisation, so `u`/`v` live in the state dict and G_ema copies them.
    """
    skip_ids = {id(m) for m in skip}
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)) and id(m) not in skip_ids:
            spectral_norm(m, eps=1e-6)
    return module


def init_weights(module: nn.Module, scheme: str) -> None:
    """BigGAN initialises every conv/linear/embedding orthogonally ('ortho'); 'normal' is N(0, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if scheme == "ortho":
                nn.init.orthogonal_(m.weight)
            elif scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif scheme == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                raise ValueError(f"Unknown init scheme '{scheme}': use ortho, normal or xavier.")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose per-channel gain (1-centred) and bias (0-centred) are linear in a condition vector.

    In BigGAN the condition is [z chunk, shared class embedding], so every block sees both the class and
    its own slice of the latent.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float = 1e-4):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=eps)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1.0 + self.gain(cond)[:, :, None, None]
        bias = self.bias(cond)[:, :, None, None]
        return self.bn(x) * gain + bias


class SelfAttention(nn.Module):
    """SAGAN self-attention (as in BigGAN): keys/values max-pooled 2x, output scaled by a gain that starts
    at 0, so the block is the identity at initialisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.theta = nn.Conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.phi = nn.Conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.g = nn.Conv2d(channels, max(1, channels // 2), 1, bias=False)
        self.o = nn.Conv2d(max(1, channels // 2), channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)                      # (B, HW, C/8)
        k = F.max_pool2d(self.phi(x), 2).flatten(2).transpose(1, 2)       # (B, HW/4, C/8)
        v = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)         # (B, HW/4, C/2)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0]
        out = out.transpose(1, 2).reshape(b, -1, h, w)
        return x + self.gamma * self.o(out)
