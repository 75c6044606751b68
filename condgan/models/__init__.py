"""Networks: plain nn.Modules that know nothing of training."""
from __future__ import annotations

from torch import nn

from . import biggan

ARCHS = ("biggan", "r3gan")


def _head_options(d) -> dict:
    """Options of the chosen head's class alone: the config keys that belong to that head."""
    return {"bias": d.classifier_bias} if d.head == "classifier" else {}


def _biggan(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    g, d = cfg.G, cfg.D
    G = biggan.Generator(resolution, channels, num_classes, ch=g.ch, z_dim=g.z_dim, shared_dim=g.shared_dim,
                         hier=g.hier, attn_res=g.attn_res, spectral_norm=g.spectral_norm, bn_eps=g.bn_eps,
                         init=g.init)
    D = biggan.Discriminator(resolution, channels, num_classes, ch=d.ch, attn_res=d.attn_res,
                             spectral_norm=d.spectral_norm, head=d.head, init=d.init, embed_dim=d.embed_dim,
                             block_form=d.block_form, head_options=_head_options(d))
    return G, D


def _r3gan(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    from . import r3gan
    g, d = cfg.G, cfg.D
    G = r3gan.Generator(resolution, channels, num_classes, z_dim=g.z_dim, widths=tuple(g.widths),
                        blocks=g.blocks, group_size=g.group_size, expansion=g.expansion, embed_dim=g.shared_dim)
    D = r3gan.Discriminator(resolution, channels, num_classes, widths=tuple(d.widths), blocks=d.blocks,
                            group_size=d.group_size, expansion=d.expansion, head=d.head, embed_dim=d.embed_dim,
                            head_options=_head_options(d))
    return G, D


def build_networks(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """Build G and D from the config's G/D sections for data of the given shape."""
    from ..config import ConfigError
    for side, sec in (("G", cfg.G), ("D", cfg.D)):
        if sec.arch not in ARCHS:
            raise ConfigError(f"Config key '{side}.arch' = '{sec.arch}': available {', '.join(ARCHS)}.")
    if cfg.G.arch != cfg.D.arch:
        raise ConfigError(f"Config keys 'G.arch' = '{cfg.G.arch}' and 'D.arch' = '{cfg.D.arch}' differ: "
                          "use the same backbone for both.")
    build = _biggan if cfg.G.arch == "biggan" else _r3gan
    try:
        return build(cfg, num_classes, resolution, channels)
    except ValueError as e:  # shape problems the backbone found: report them as config errors
        raise ConfigError(str(e)) from None
