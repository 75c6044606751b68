"""Networks: plain nn.Modules that know nothing of training."""
from __future__ import annotations

from torch import nn

from . import biggan

ARCHS = {"biggan": (biggan.Generator, biggan.Discriminator)}


def build_networks(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """Build G and D from the config's G/D sections for data of the given shape."""
    from ..config import ConfigError
    for side, sec in (("G", cfg.G), ("D", cfg.D)):
        if sec.arch not in ARCHS:
            raise ConfigError(f"Config key '{side}.arch' = '{sec.arch}': available {', '.join(ARCHS)}.")
    g, d = cfg.G, cfg.D
    G = ARCHS[g.arch][0](resolution, channels, num_classes, ch=g.ch, z_dim=g.z_dim, shared_dim=g.shared_dim,
                         hier=g.hier, attn_res=g.attn_res, spectral_norm=g.spectral_norm, bn_eps=g.bn_eps,
                         init=g.init)
    D = ARCHS[d.arch][1](resolution, channels, num_classes, ch=d.ch, attn_res=d.attn_res,
                         spectral_norm=d.spectral_norm, head=d.head, init=d.init)
    return G, D
