"""The GAN objective: what D and G minimise at each step. The training loop only calls `d_loss` and `g_loss`;
methods differ by the parts composed here, never by their own loop:

- adversarial loss: hinge (BigGAN), non-saturating, relativistic pairing (R3GAN);
- conditioning loss on D's head: none (projection), ACGAN's cross-entropy, ReACGAN's D2D-CE;
- regularisers: R1/R2 gradient penalties, consistency regularisation, orthogonal regularisation;
- augmentation of every D input: DiffAugment, with a fixed, scheduled or ADA-steered probability.

Real and fake (and the consistency-regularisation views) go through D in one forward pass: D has no
BatchNorm, so the samples stay independent, and under DistributedDataParallel each network is called once
per backward. `G_train`/`D_train` are the (possibly DDP-wrapped) modules whose gradients are trained; G's
loss reads the plain D, whose parameters are frozen in that phase. The Trainer owns the networks (plain and
wrapped) and hands them over; this step's scheduled values (R1/R2 gamma, augmentation p) come in as an
argument, as R3GAN's trainer takes gamma, so the objective holds no hyperparameter that changes.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..augment import AdaptiveAugment, cr_augment, diff_augment
from ..config import Config
from ..losses import ADVERSARIAL, CONDITIONING, CondContext, orthogonal_regularisation
from ..losses.gradient_penalty import gradient_norm_squared
from .distributed import gather_rows


class Objective:
    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, G_train: nn.Module, D_train: nn.Module,
                 device: torch.device, rank: int = 0):
        self.G, self.D, self.G_train, self.D_train = G, D, G_train, D_train
        self.loss, self.aug = cfg.loss, cfg.augment
        self.adversarial = ADVERSARIAL[cfg.loss.adversarial]  # its properties are read by the training step
        self.adv_d, self.adv_g = self.adversarial.d, self.adversarial.g
        self.g_needs_real = self.adversarial.g_needs_real  # G's loss compares its fakes with reals
        self.cond = CONDITIONING[cfg.loss.cond] if cfg.loss.cond != "none" else None
        self.cond_ctx = CondContext(cfg.loss, getattr(D, "head", None), gather_rows, lambda n: rank * n)
        self.layout = (torch.channels_last if cfg.train.channels_last and not cfg.train.plain
                       else torch.contiguous_format)
        self.aug_rng = torch.Generator(device).manual_seed(cfg.train.seed + 3 + 1000 * rank)  # per process
        self.ada = (AdaptiveAugment(target=cfg.augment.ada_target, interval=cfg.augment.ada_interval,
                                    speed_img=int(cfg.augment.ada_kimg * 1000), p=cfg.augment.p, device=device)
                    if cfg.augment.ada_target > 0 and cfg.augment.policy else None)

    # ------------------------------------------------------------------------------------------------------
    def augment(self, x: torch.Tensor, hp: dict[str, float]) -> torch.Tensor:
        """DiffAugment with ADA's steered p, else this step's (possibly scheduled) p."""
        if not self.aug.policy:
            return x
        p = self.ada.p if self.ada is not None else hp["aug_p"]
        return diff_augment(x, self.aug.policy, p=p, generator=self.aug_rng)

    def cond_loss(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return self.cond.fn(out, y, self.cond_ctx)

    # ------------------------------------------------------------------------------------------------------
    def d_loss(self, x_real: torch.Tensor, y_real: torch.Tensor, x_fake: torch.Tensor, y_fake: torch.Tensor,
               hp: dict[str, float], probe: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on one real and one (detached) fake batch, with this step's values `hp`
        (`training.schedules.hyperparameters`). `probe`: also measure the conditioning-gradient probe."""
        n = len(x_real)
        x = torch.cat([x_real, x_fake])
        y = torch.cat([y_real, y_fake])
        r1_gamma, r2_gamma = hp["r1_gamma"], hp["r2_gamma"]
        penalise = r1_gamma > 0 or r2_gamma > 0
        if penalise:  # R1/R2 are taken with respect to the images before augmentation, as R3GAN's code does
            x = x.detach().requires_grad_(True)
        x_aug = self.augment(x, hp).contiguous(memory_format=self.layout)
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
            loss = loss + 0.5 * (r1_gamma * r1 + r2_gamma * r2)
            stats.update({"D/r1": r1.detach(), "D/r2": r2.detach()})

        if self.cond is not None:
            real_out = {k: v[:n] for k, v in out.items()}
            cond = self.cond_loss(real_out, y_real)
            if self.loss.cond_on_fake:
                cond = cond + self.cond_loss({k: v[n:] for k, v in out.items()}, y_fake)
            loss = loss + self.loss.cond_lambda * cond
            stats.update({"D/cond": cond.detach(), **self._probes(out_all["features"], n, cond, probe)})

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

    def _probes(self, features: torch.Tensor, n: int, cond: torch.Tensor, probe: bool) -> dict[str, torch.Tensor]:
        """ReACGAN Fig. 2: the norm of the real images' features entering the conditioning head and the norm of
        the conditioning loss's gradient with respect to them. Growing norms foretell ACGAN's early collapse.
        The gradient (a partial backward) only when `probe` is set, i.e. on logged steps."""
        norm = features[:n].detach().float().norm(dim=1).mean()
        if not (probe and features.requires_grad):
            return {"probe/feature_norm": norm}
        (grad,) = torch.autograd.grad(cond, features, retain_graph=True)
        # per-sample gradient of the per-sample loss (cond is a mean over n samples)
        return {"probe/feature_norm": norm, "probe/cond_grad_norm": grad[:n].float().norm(dim=1).mean() * n}

    def g_loss(self, z: torch.Tensor, y: torch.Tensor, hp: dict[str, float], x_real: torch.Tensor | None = None,
               y_real: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on a fresh batch of fakes; `x_real` is needed only by relativistic losses."""
        x_fake = self.G_train(z, y)
        if self.g_needs_real:
            n = len(x_real)
            out = self.D(self.augment(torch.cat([x_real, x_fake]), hp), torch.cat([y_real, y]))
            out = {k: v[n:] for k, v in out.items()} | {"real_adv": out["adv"][:n]}
            loss = self.adv_g(out["adv"].float(), out["real_adv"].float())
        else:
            out = self.D(self.augment(x_fake, hp), y)
            loss = self.adv_g(out["adv"].float(), None)
        stats = {"G/loss": loss.detach()}
        if self.cond is not None:
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
        return {"aug_rng": self.aug_rng.get_state(), "ada": self.ada.state_dict() if self.ada is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aug_rng.set_state(state["aug_rng"])  # (older checkpoints also hold an "aug_p": it is rederived)
        if self.ada is not None and state.get("ada") is not None:
            self.ada.load_state_dict(state["ada"])
