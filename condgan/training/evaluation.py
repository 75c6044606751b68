"""Metrics during training: every `train.eval_every` steps the EMA generator is evaluated against the
training data, the figures are logged as `metric/*`, and the checkpoint best in `train.best_metric` is kept
as `best.pt` (which keys a metric logs and which way each is better: `condgan.metrics.registry`).

In a distributed run every process generates and embeds its share of the samples, and the main process
gathers the features (in single-process order) and computes the metrics: N processes evaluate N times faster."""
from __future__ import annotations

from typing import Any

import torch

import torch.distributed

from ..data import DataError
from ..metrics import registry
from ..metrics.evaluate import (cached_real_features, compute_metrics, extract, feature_network, generator_batches,
                                interleave)
from ..metrics.weights import cache_dir
from ..sample import ConditionalSampler


class TrainingEvaluator:
    BATCH = 250

    def __init__(self, cfg, data, device: torch.device, dist=None):
        from .distributed import Distributed
        self.dist = dist or Distributed()
        t = cfg.train
        if data.images is None:
            raise DataError("train.eval_every needs the training data in memory; evaluate streamed data "
                            "afterwards with `condgan evaluate`.")
        self.metrics = registry.parse(t.eval_metrics, "train.eval_metrics")
        self.conditional = cfg.data.conditional
        self.samples, self.seed, self.device = t.eval_samples, t.seed, device
        self.net, self.name = feature_network(t.evaluator, t.inception_weights, device, data.num_classes)
        self.real = (cached_real_features(self.net, data.images, data.labels, device, cache_dir() / "stats")
                     if self.dist.is_main else None)
        self.best_key = registry.score_key(t.best_metric)   # the logged key: 'kid' -> 'kid_mean'
        self.best: float | None = None

    @torch.no_grad()
    def __call__(self, G_ema, class_names) -> dict[str, Any]:
        """The metrics on the main process; {} on the others."""
        sampler = ConditionalSampler(G_ema, class_names, self.device)
        d = self.dist
        fake = extract(self.net, generator_batches(sampler, self.samples, None, self.seed, self.BATCH,
                                                   shard=(d.rank, d.world_size)),
                       self.device, keep_images=registry.needs_any(self.metrics, "images"))
        if d.enabled:
            parts = [None] * d.world_size
            torch.distributed.all_gather_object(parts, fake)
            fake = interleave(parts, self.BATCH)
        if not d.is_main:
            return {}
        out = compute_metrics(self.real, fake, self.metrics, conditional=self.conditional)
        return {f"metric/{k}": v for k, v in out.items() if isinstance(v, (int, float))}

    def is_best(self, row: dict[str, Any]) -> bool:
        """True when the row improves on the best value of `train.best_metric` seen so far."""
        value = row.get(f"metric/{self.best_key}")
        if value is None:
            return False
        lower = registry.lower_is_better(self.best_key)
        if self.best is None or (value < self.best if lower else value > self.best):
            self.best = value
            return True
        return False
