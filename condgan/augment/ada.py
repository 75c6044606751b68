"""Adaptive augmentation probability (StyleGAN2-ADA, Karras et al. 2020).

D overfits when it is too sure of the reals. The heuristic r_t = E[sign(D(real))] measures that without
held-out data; every `interval` D steps p moves by a fixed amount towards keeping r_t at `target`:
p <- clamp(p + sign(r_t - target) * images_seen / speed_img, 0, 1), so p can go 0 -> 1 in `speed_img` images.

p and the sign accumulator live on the device and are only ever updated by tensor ops, so nothing here
waits for the GPU; the counts are host integers known without reading anything back.
"""
from __future__ import annotations

import torch
import torch.distributed


class AdaptiveAugment:
    """Keeps p for `diff_augment(..., p=ada.p)`. Per D step: `observe(real_logits)`, then `step(batch)`."""

    def __init__(self, target: float = 0.6, interval: int = 4, speed_img: int = 500_000, p: float = 0.0,
                 device: torch.device | str | None = None):
        if interval < 1 or speed_img <= 0:
            raise ValueError(f"AdaptiveAugment needs interval >= 1 and speed_img > 0; "
                             f"got interval={interval}, speed_img={speed_img}.")
        self.target, self.interval, self.speed_img = target, interval, speed_img
        self._p = torch.tensor(float(p), device=device)
        self._sign_sum = torch.zeros((), device=device)
        self._rt = torch.zeros((), device=device)  # the last interval's r_t, for logging
        self._count = 0    # logits observed since the last update
        self._images = 0   # images (batch sizes) since the last update
        self._calls = 0    # step() calls since the last update

    @property
    def p(self) -> torch.Tensor:
        return self._p

    @property
    def rt(self) -> torch.Tensor:
        return self._rt

    def observe(self, real_logits: torch.Tensor) -> None:
        """Accumulate sign(D(x)) over D's logits on (augmented) real images."""
        self._sign_sum += real_logits.detach().float().sign().sum()
        self._count += real_logits.numel()

    def step(self, batch_size: int) -> None:
        """Call once per D step; adjusts p on every `interval`-th call."""
        self._calls += 1
        self._images += batch_size
        if self._calls >= self.interval:
            self.update()

    def update(self) -> None:
        """Apply the accumulated evidence now and start a new interval (skipped if nothing was observed)."""
        if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            # one p for all processes: pool the evidence (every process updates at the same D step)
            torch.distributed.all_reduce(self._sign_sum)
            self._count *= torch.distributed.get_world_size()
            self._images *= torch.distributed.get_world_size()
        if self._count > 0:
            self._rt.copy_(self._sign_sum / self._count)
            adjust = torch.sign(self._rt - self.target) * (self._images / self.speed_img)
            self._p.copy_((self._p + adjust).clamp(0.0, 1.0))  # in place: a held `ada.p` stays current
        self._sign_sum.zero_()
        self._count = self._images = self._calls = 0

    def state_dict(self) -> dict:
        return {"p": self._p.clone(), "sign_sum": self._sign_sum.clone(), "rt": self._rt.clone(),
                "count": self._count, "images": self._images, "calls": self._calls}

    def load_state_dict(self, state: dict) -> None:
        self._p.copy_(state["p"])
        self._sign_sum.copy_(state["sign_sum"])
        self._rt.copy_(state["rt"])
        self._count, self._images, self._calls = (int(state[k]) for k in ("count", "images", "calls"))
