"""Discriminator conditioning heads: how D's pooled features and the class label become its outputs.

A head returns a dict; `adv` is the logit the adversarial loss sees and `features` the pooled features it
read (for probes). Other keys are for conditioning losses: `logits` (ACGAN's classifier), `embed` and
`proxy` (ReACGAN's D2D-CE). Methods differ by head and loss, not by backbone or training loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        return {"adv": adv, "features": h}


class ProjectionOnlyHead(nn.Module):
    """The projection term alone, adv = <embed(y), h>: no unconditional w·h + b (R3GAN's official D,
    R3GAN/Networks.py). With one class the single embedding row is a bias-free linear readout."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"adv": (self.embed(y) * h).sum(dim=1), "features": h}


class ClassifierHead(nn.Module):
    """ACGAN (Odena et al., 2017): an unconditional adv logit and an auxiliary softmax classifier over the
    same features. The label is not an input: conditioning comes only from the classification loss.
    `bias=False` drops the class logits' bias, as StudioGAN's ACGAN (src/models/big_resnet.py) does."""

    def __init__(self, features: int, num_classes: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.classifier = nn.Linear(features, num_classes, bias=bias)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"adv": self.linear(h).squeeze(1), "logits": self.classifier(h), "features": h}


class EmbeddingHead(nn.Module):
    """ReACGAN (Kang et al., 2021): an unconditional adv logit, a linear projection of the features into an
    embedding space, and one learned proxy per class in that space (both normalised by the loss)."""

    def __init__(self, features: int, num_classes: int, embed_dim: int = 512):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.project = nn.Linear(features, embed_dim)
        self.proxies = nn.Embedding(num_classes, embed_dim)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"adv": self.linear(h).squeeze(1), "embed": self.project(h), "proxy": self.proxies(y),
                "features": h}


@dataclass(frozen=True)
class Head:
    """A head as the config sees it: its class, whether it reads the label itself (projection) or learns the
    classes only through a conditioning loss, and the D.* keys it alone reads (with the class keyword each
    feeds)."""
    cls: type[nn.Module]
    reads_label: bool
    options: dict[str, str] = field(default_factory=dict)   # config key (D.<key>) -> class keyword


HEADS: dict[str, Head] = {
    "projection": Head(ProjectionHead, reads_label=True),
    "projection_only": Head(ProjectionOnlyHead, reads_label=True),
    "classifier": Head(ClassifierHead, reads_label=False, options={"classifier_bias": "bias"}),
    "embedding": Head(EmbeddingHead, reads_label=False, options={"embed_dim": "embed_dim"}),
}


def head_options(name: str, section: Any) -> dict[str, Any]:
    """The keyword arguments of head `name` taken from a config section (D.*): its own keys only."""
    return {kw: getattr(section, key) for key, kw in HEADS[name].options.items()}


def make_head(name: str, features: int, num_classes: int, **options: Any) -> nn.Module:
    """`options` are keyword arguments of that head's class alone (e.g. the classifier's `bias`)."""
    if name not in HEADS:
        raise ValueError(f"Unknown discriminator head '{name}'; available: {', '.join(HEADS)}.")
    return HEADS[name].cls(features, num_classes, **options)
