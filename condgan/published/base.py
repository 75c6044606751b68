"""What every importer of published weights returns, and the strict state-dict check they share.

An importer (one module per upstream format: `studiogan`, `biggan_pytorch`, `r3gan`) reads the upstream
files without running upstream code, renames and reshapes their tensors into condgan's networks, and returns
an `Imported`; `condgan.published.write_run` turns that into an ordinary run folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..errors import CondganError


class PublishedModelError(CondganError, ValueError):
    """A published file that cannot be imported: wrong format, missing or unexpected tensor, wrong shape,
    a refused pickle class, a truncated file, an upstream setting condgan does not implement."""


@dataclass
class Imported:
    """A published model as condgan state: the resolved config, the data shape, and condgan state dicts."""
    cfg: Config
    data: dict[str, Any]                      # num_classes, class_names, resolution, channels, source
    G_ema: dict[str, torch.Tensor]
    G: dict[str, torch.Tensor] | None = None
    D: dict[str, torch.Tensor] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)   # format, files (name, sha256), upstream settings
    step: int = 0                             # the upstream step (kimg for R3GAN) when the files say it


def check_state(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Raise one PublishedModelError naming the first missing key, unexpected key or shape mismatch of
    `state` against `module.state_dict()`; `what` names the source (e.g. "G_ema from FILE")."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        raise PublishedModelError(f"{what}: tensor '{missing[0]}' is missing ({len(missing)} missing in all).")
    if unexpected:
        raise PublishedModelError(f"{what}: unexpected tensor '{unexpected[0]}' ({len(unexpected)} unexpected "
                                  "in all); is this file of another configuration?")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise PublishedModelError(f"{what}: tensor '{k}' has shape {tuple(state[k].shape)}, expected "
                                      f"{tuple(v.shape)} for this configuration.")
