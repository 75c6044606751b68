"""The one place losses are named for the config: `loss.adversarial` and `loss.cond` look their value up here,
and the config's validation, the objective and the training step read the properties declared with each.

Adding a loss is one function in its own file plus one entry here (or `register_adversarial` /
`register_conditioning` from outside the package); nothing else in condgan names losses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import conditional
from .adversarial import hinge_d, hinge_g, nonsaturating_d, nonsaturating_g
from .relativistic import rpgan_d, rpgan_g


@dataclass(frozen=True)
class AdversarialLoss:
    """`d(real, fake)` and `g(fake, real)` on D's logits (non-relativistic G losses ignore `real`)."""
    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    g_needs_real: bool = False   # G's loss compares its fakes with reals: the G step draws a real batch too
    pairs_labels: bool = False   # each fake takes its paired real's class by default (loss.fake_labels=auto)


@dataclass(frozen=True)
class CondContext:
    """What a conditioning loss may read beyond D's outputs: the loss config, D's head, and the distributed
    view of the batch (`gather` concatenates every process's rows; `offset` is this process's first row)."""
    loss: Any
    head: torch.nn.Module
    gather: Callable[[torch.Tensor], torch.Tensor]
    offset: Callable[[int], int]


@dataclass(frozen=True)
class ConditioningLoss:
    """`fn(out, labels, ctx)` on the head's outputs `out` for samples of class `labels`."""
    fn: Callable[[dict[str, torch.Tensor], torch.Tensor, CondContext], torch.Tensor]
    head: str                    # the D head whose outputs it reads


def _ce(out: dict[str, torch.Tensor], y: torch.Tensor, ctx: CondContext) -> torch.Tensor:
    return conditional.classifier_ce(out["logits"], y)


def _d2d_ce(out: dict[str, torch.Tensor], y: torch.Tensor, ctx: CondContext, easy_suppression: bool = True
            ) -> torch.Tensor:
    """Negatives come from the whole (global) batch; the anchor's own row in it is excluded."""
    keys, c = ctx.gather(out["embed"]), ctx.loss
    self_index = torch.arange(len(y), device=y.device) + (ctx.offset(len(y)) if len(keys) > len(y) else 0)
    return conditional.d2d_ce(out["embed"], out["proxy"], y, c.temperature, c.m_p, c.m_n,
                              easy_suppression=easy_suppression, keys=keys, key_labels=ctx.gather(y),
                              form=c.d2dce_form, self_index=self_index)


def _d2d_ce_noess(out: dict[str, torch.Tensor], y: torch.Tensor, ctx: CondContext) -> torch.Tensor:
    return _d2d_ce(out, y, ctx, easy_suppression=False)


def _proxy_nce(out: dict[str, torch.Tensor], y: torch.Tensor, ctx: CondContext) -> torch.Tensor:
    return conditional.proxy_nce(out["embed"], ctx.head.proxies.weight, y, ctx.loss.temperature)


ADVERSARIAL: dict[str, AdversarialLoss] = {
    "hinge": AdversarialLoss(hinge_d, hinge_g),
    "nonsaturating": AdversarialLoss(nonsaturating_d, nonsaturating_g),
    "rpgan": AdversarialLoss(rpgan_d, rpgan_g, g_needs_real=True, pairs_labels=True),
}

CONDITIONING: dict[str, ConditioningLoss] = {   # loss.cond=none: no conditioning loss (projection heads)
    "ce": ConditioningLoss(_ce, head="classifier"),                     # ACGAN
    "d2dce": ConditioningLoss(_d2d_ce, head="embedding"),               # ReACGAN
    "d2dce_noess": ConditioningLoss(_d2d_ce_noess, head="embedding"),   # ReACGAN's ablation: no margins
    "proxy_nce": ConditioningLoss(_proxy_nce, head="embedding"),        # ReACGAN's ablation: proxies only
}


def register_adversarial(name: str, d: Callable, g: Callable, *, g_needs_real: bool = False,
                         pairs_labels: bool = False) -> None:
    """Make `loss.adversarial=name` available (e.g. from a user's own module, before `load_config`)."""
    ADVERSARIAL[name] = AdversarialLoss(d, g, g_needs_real, pairs_labels)


def register_conditioning(name: str, fn: Callable, *, head: str) -> None:
    """Make `loss.cond=name` available; `fn(out, labels, ctx)` reads the outputs of the head named `head`."""
    CONDITIONING[name] = ConditioningLoss(fn, head)
