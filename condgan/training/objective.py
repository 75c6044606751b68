"""The GAN objective: what D and G minimise at each step. The training loop only calls `d_loss` and `g_loss`;
methods differ by the parts composed here, never by their own loop:

- adversarial loss: hinge (BigGAN), non-saturating, relativistic pairing (R3GAN);
- conditioning loss on D's head: none (projection), ACGAN's cross-entropy, ReACGAN's D2D-CE;
- regularisers: R1/R2 gradient penalties, consistency regularisation, orthogonal regularisation;
- augmentation of every D input: DiffAugment, with a fixed, scheduled or ADA-steered probability.

Real and fake (and the consistency-regularisation views) go through D in one forward pass: D has no
BatchNorm, so the samples stay independent, and under DistributedDataParallel each network is called once
per backward. `G_train`/`D_train` are the (possibly DDP-wrapped) modules whose gradients are trained; G's
loss reads the plain D, whose parameters are frozen in that phase.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..augment import AdaptiveAugment, cr_augment, diff_augment
from ..config import Config
from ..losses import ADVERSARIAL, orthogonal_regularisation
from ..losses.conditional import classifier_ce, d2d_ce, proxy_nce
from ..losses.gradient_penalty import gradient_norm_squared
from .distributed import gather_rows


class Objective:
    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, device: torch.device,
                 G_train: nn.Module | None = None, D_train: nn.Module | None = None, rank: int = 0):
        self.G, self.D, self.loss, self.aug = G, D, cfg.loss, cfg.augment
        self.probe_gradients = True  # the loop turns it off on steps that are not logged
        self.G_train = G if G_train is None else G_train
        self.D_train = D if D_train is None else D_train
        self.adv_d, self.adv_g = ADVERSARIAL[cfg.loss.adversarial]
        self.g_needs_real = cfg.loss.adversarial == "rpgan"  # G's loss compares its fakes with reals
        self.rank = rank
        # R1/R2 gammas are attributes because a burn-in schedule may move them every step
        self.r1_gamma, self.r2_gamma = cfg.loss.r1_gamma, cfg.loss.r2_gamma
        self.layout = (torch.channels_last if cfg.train.channels_last and not cfg.train.plain
                       else torch.contiguous_format)
        self.aug_rng = torch.Generator(device).manual_seed(cfg.train.seed + 3 + 1000 * rank)  # per process
        self.aug_p = torch.tensor(float(cfg.augment.p), device=device)
        self.ada = (AdaptiveAugment(target=cfg.augment.ada_target, interval=cfg.augment.ada_interval,
                                    speed_img=int(cfg.augment.ada_kimg * 1000), p=cfg.augment.p, device=device)
                    if cfg.augment.ada_target > 0 and cfg.augment.policy else None)

    # ------------------------------------------------------------------------------------------------------
    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.aug.policy:
            return x
        p = self.ada.p if self.ada is not None else self.aug_p
        return diff_augment(x, self.aug.policy, p=p, generator=self.aug_rng)

    def cond_loss(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        name = self.loss.cond
        if name == "ce":
            return classifier_ce(out["logits"], y)
        if name in ("d2dce", "d2dce_noess"):  # negatives come from the whole (global) batch
            keys = gather_rows(out["embed"])
            self_index = torch.arange(len(y), device=y.device) + (self.rank * len(y) if len(keys) > len(y) else 0)
            return d2d_ce(out["embed"], out["proxy"], y, self.loss.temperature, self.loss.m_p, self.loss.m_n,
                          easy_suppression=name == "d2dce", keys=keys, key_labels=gather_rows(y),
                          form=self.loss.d2dce_form, self_index=self_index)
        if name == "proxy_nce":
            return proxy_nce(out["embed"], self.D.head.proxies.weight, y, self.loss.temperature)
        raise ValueError(f"Unknown conditioning loss '{name}'.")

    # ------------------------------------------------------------------------------------------------------
    def d_loss(self, x_real: torch.Tensor, y_real: torch.Tensor, x_fake: torch.Tensor,
               y_fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on one real and one (detached) fake batch."""
        n = len(x_real)
        x = torch.cat([x_real, x_fake])
        y = torch.cat([y_real, y_fake])
        penalise = self.r1_gamma > 0 or self.r2_gamma > 0
        if penalise:  # R1/R2 are taken with respect to the images before augmentation, as R3GAN's code does
            x = x.detach().requires_grad_(True)
        x_aug = self.augment(x).contiguous(memory_format=self.layout)
        if self.loss.cr_lambda > 0:  # the consistency-regularisation views of the reals ride along
            out_all = self.D_train(torch.cat([x_aug, cr_augment(x_real, self.aug_rng)]), torch.cat([y, y_real]))
        else:
            out_all = self.D_train(x_aug, y)
        out = {k: v[:2 * n] for k, v in out_all.items()}
        adv = out["adv"].float()
        real, fake = adv[:n], adv[n:]
        loss = self.adv_d(real, fake)
        stats = {"D/loss": loss.detach(), "D/real": real.detach().mean(), "D/fake": fake.detach().mean()}

        if penalise:  # zero-centred gradient penalties: R1 on the real half, R2 on the fake half
            norms = gradient_norm_squared(adv, x)
            r1, r2 = norms[:n].mean(), norms[n:].mean()
            loss = loss + 0.5 * (self.r1_gamma * r1 + self.r2_gamma * r2)
            stats.update({"D/r1": r1.detach(), "D/r2": r2.detach()})

        if self.loss.cond != "none":
            real_out = {k: v[:n] for k, v in out.items()}
            cond = self.cond_loss(real_out, y_real)
            if self.loss.cond_on_fake:
                cond = cond + self.cond_loss({k: v[n:] for k, v in out.items()}, y_fake)
            loss = loss + self.loss.cond_lambda * cond
            stats.update({"D/cond": cond.detach(), **self._probes(out_all["features"], n, cond)})

        if self.loss.cr_lambda > 0:  # consistency regularisation on real images (Zhang et al., 2020)
            keys = [k for k in ("adv", "logits", "embed") if k in out_all]
            cr = sum((out_all[k][2 * n:].float() - out[k][:n].float()).reshape(n, -1).square().sum(1).mean()
                     for k in keys)
            loss = loss + self.loss.cr_lambda * cr
            stats["D/cr"] = cr.detach()

        if self.loss.d_ortho > 0:
            ortho = orthogonal_regularisation(self.D, self.loss.d_ortho)
            loss = loss + ortho
            stats["D/ortho"] = ortho.detach()

        if self.ada is not None:
            self.ada.observe(real.detach())
            self.ada.step(n)
            stats["aug/p"] = self.ada.p.detach().clone()
        return loss, stats

    def _probes(self, features: torch.Tensor, n: int, cond: torch.Tensor) -> dict[str, torch.Tensor]:
        """ReACGAN Fig. 2: the norm of the real images' features entering the conditioning head and the norm of
        the conditioning loss's gradient with respect to them. Growing norms foretell ACGAN's early collapse.
        The gradient (a partial backward) only when `probe_gradients` is set, i.e. on logged steps."""
        norm = features[:n].detach().float().norm(dim=1).mean()
        if not (self.probe_gradients and features.requires_grad):
            return {"probe/feature_norm": norm}
        (grad,) = torch.autograd.grad(cond, features, retain_graph=True)
        # per-sample gradient of the per-sample loss (cond is a mean over n samples)
        return {"probe/feature_norm": norm, "probe/cond_grad_norm": grad[:n].float().norm(dim=1).mean() * n}

    def g_loss(self, z: torch.Tensor, y: torch.Tensor, x_real: torch.Tensor | None = None,
               y_real: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on a fresh batch of fakes; `x_real` is needed only by relativistic losses."""
        x_fake = self.G_train(z, y)
        if self.g_needs_real:
            n = len(x_real)
            out = self.D(self.augment(torch.cat([x_real, x_fake])), torch.cat([y_real, y]))
            out = {k: v[n:] for k, v in out.items()} | {"real_adv": out["adv"][:n]}
            loss = self.adv_g(out["adv"].float(), out["real_adv"].float())
        else:
            out = self.D(self.augment(x_fake), y)
            loss = self.adv_g(out["adv"].float(), None)
        stats = {"G/loss": loss.detach()}
        if self.loss.cond != "none":
            cond = self.cond_loss(out, y)
            loss = loss + self.loss.cond_lambda * cond
            stats["G/cond"] = cond.detach()
        if self.loss.g_ortho > 0:
            skip = (self.G.shared,) if hasattr(self.G, "shared") else ()  # BigGAN's class embedding
            ortho = orthogonal_regularisation(self.G, self.loss.g_ortho, skip=skip)
            loss = loss + ortho
            stats["G/ortho"] = ortho.detach()
        return loss, stats

    # ------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"aug_rng": self.aug_rng.get_state(), "aug_p": self.aug_p,
                "ada": self.ada.state_dict() if self.ada is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aug_rng.set_state(state["aug_rng"])
        self.aug_p.copy_(state["aug_p"])
        if self.ada is not None and state.get("ada") is not None:
            self.ada.load_state_dict(state["ada"])
