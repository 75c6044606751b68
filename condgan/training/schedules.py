"""R3GAN's burn-in schedules: hyper-parameters that move from a start value to their configured value along a
half cosine over the first `burn_in_kimg` thousand real images, then stay.

Why: early in training a large learning rate, strong gradient penalty, short EMA and low beta2 let the
networks move fast; late, the opposite lets them settle (Huang et al., 2025, Table 9).
"""
from __future__ import annotations

import math

from ..config import Config


def cosine_burn_in(start: float, end: float, progress: float) -> float:
    """start at progress 0, end at progress >= 1, a half cosine between."""
    w = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return end + (start - end) * w


def ema_decay_from_halflife(halflife_kimg: float, images_per_step: int) -> float:
    """Per-step EMA decay whose weights halve every `halflife_kimg` thousand images (0: no averaging)."""
    if halflife_kimg <= 0:
        return 0.0
    return 0.5 ** (images_per_step / (halflife_kimg * 1000.0))


def hyperparameters(cfg: Config, kimg: float) -> dict[str, float]:
    """Every scheduled value at `kimg` thousand real images; unscheduled ones keep their configured values."""
    s, o, lo = cfg.schedule, cfg.optim, cfg.loss
    progress = kimg / s.burn_in_kimg if s.burn_in_kimg > 0 else 1.0

    def value(start: float | None, end: float) -> float:
        return end if start is None else cosine_burn_in(start, end, progress)
    images_per_step = cfg.train.batch_size * cfg.train.d_steps
    halflife = cfg.train.ema_halflife_kimg
    if halflife is None:
        ema = cfg.train.ema_decay
    else:
        ema = ema_decay_from_halflife(value(s.ema_halflife_start_kimg, halflife), images_per_step)
    return {"g_lr": value(s.lr_start, o.g_lr), "d_lr": value(s.lr_start, o.d_lr),
            "g_beta2": value(s.beta2_start, o.g_betas[1]), "d_beta2": value(s.beta2_start, o.d_betas[1]),
            "r1_gamma": value(s.gamma_start, lo.r1_gamma) if lo.r1_gamma > 0 else 0.0,
            "r2_gamma": value(s.gamma_start, lo.r2_gamma) if lo.r2_gamma > 0 else 0.0,
            "ema_decay": ema, "aug_p": value(s.aug_p_start, cfg.augment.p)}
