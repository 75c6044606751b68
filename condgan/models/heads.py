"""Discriminator conditioning heads: how D's pooled features and the class label become its outputs.

A head returns a dict; `adv` is the unconditional-or-conditional logit the adversarial loss sees. Other
keys (class logits, embeddings) are for conditioning losses. Methods differ by head, not by backbone.
"""
from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """Projection discriminator (Miyato & Koyama, 2018): adv = w·h + <embed(y), h>."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        adv = self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
        return {"adv": adv}


HEADS = {"projection": ProjectionHead}


def make_head(name: str, features: int, num_classes: int) -> nn.Module:
    if name not in HEADS:
        raise ValueError(f"Unknown discriminator head '{name}'; available: {', '.join(HEADS)}.")
    return HEADS[name](features, num_classes)
