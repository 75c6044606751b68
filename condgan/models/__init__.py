"""Networks: plain nn.Modules that know nothing of training.

`BACKBONES` is the one place a backbone is named for the config (`G.arch` / `D.arch`): its builder and the
G.* / D.* keys it reads. The config's validation reads it to refuse a key the chosen backbone ignores, so
adding a backbone is its own module plus one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from . import biggan
from .heads import HEADS, head_options


@dataclass(frozen=True)
class Backbone:
    build: Callable[..., tuple[nn.Module, nn.Module]]   # (cfg, num_classes, resolution, channels) -> G, D
    g_keys: frozenset[str]                              # G.<key> it reads (besides G.arch)
    d_keys: frozenset[str]                              # D.<key> it reads (besides D.arch and the head's keys)


def _biggan(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    g, d = cfg.G, cfg.D
    G = biggan.Generator(resolution, channels, num_classes, ch=g.ch, z_dim=g.z_dim, shared_dim=g.shared_dim,
                         hier=g.hier, attn_res=g.attn_res, spectral_norm=g.spectral_norm, bn_eps=g.bn_eps,
                         init=g.init)
    D = biggan.Discriminator(resolution, channels, num_classes, ch=d.ch, attn_res=d.attn_res,
                             spectral_norm=d.spectral_norm, head=d.head, init=d.init, block_form=d.block_form,
                             head_options=head_options(d.head, d))
    return G, D


def _r3gan(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    from . import r3gan
    g, d = cfg.G, cfg.D
    G = r3gan.Generator(resolution, channels, num_classes, z_dim=g.z_dim, widths=tuple(g.widths),
                        blocks=g.blocks, group_size=g.group_size, expansion=g.expansion, embed_dim=g.shared_dim,
                        bf16_stages=tuple(g.bf16_stages))
    D = r3gan.Discriminator(resolution, channels, num_classes, widths=tuple(d.widths), blocks=d.blocks,
                            group_size=d.group_size, expansion=d.expansion, head=d.head,
                            head_options=head_options(d.head, d))
    return G, D


BACKBONES: dict[str, Backbone] = {
    "biggan": Backbone(_biggan,
                       g_keys=frozenset({"ch", "z_dim", "shared_dim", "hier", "attn_res", "spectral_norm", "bn_eps",
                                         "init"}),
                       d_keys=frozenset({"ch", "attn_res", "spectral_norm", "head", "init", "block_form"})),
    "r3gan": Backbone(_r3gan,
                      g_keys=frozenset({"z_dim", "shared_dim", "widths", "blocks", "group_size", "expansion",
                                         "bf16_stages"}),
                      d_keys=frozenset({"widths", "blocks", "group_size", "expansion", "head"})),
}


def build_networks(cfg, num_classes: int, resolution: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """Build G and D from the config's G/D sections for data of the given shape (config.validate has
    checked the names)."""
    from ..config import ConfigError
    try:
        return BACKBONES[cfg.G.arch].build(cfg, num_classes, resolution, channels)
    except ValueError as e:  # shape problems the backbone found: report them as config errors
        raise ConfigError(str(e)) from None


__all__ = ["BACKBONES", "HEADS", "Backbone", "build_networks"]
