"""Domain evaluators: a small classifier trained on the user's own data, whose penultimate features and
logits stand in for Inception's where Inception does not fit (digits, MNIST, Stacked MNIST) or its weights
are not available. It exposes the same interface as the Inception network: uint8 images in,
{"pool": features, "logits": class logits} out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "condgan-evaluator-v1"


class DomainClassifier(nn.Module):
    """Three conv stages (BN, ReLU, max-pool) and a feature layer; works at any resolution >= 8 px."""

    def __init__(self, channels: int, num_classes: int, resolution: int, width: int = 32, features: int = 128):
        super().__init__()
        self.channels, self.num_classes, self.resolution = channels, num_classes, resolution
        self.width, self.feature_dim = width, features
        layers: list[nn.Module] = []
        cin = channels
        for mult in (1, 2, 4):
            cout = width * mult
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                       nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                       nn.MaxPool2d(2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.embed = nn.Linear(cin, features)
        self.fc = nn.Linear(features, num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float in [-1, 1] at the evaluator's resolution."""
        x = images.float() / 127.5 - 1.0
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                              align_corners=False)
        return x

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.shape[1] != self.channels:
            raise ValueError(f"This evaluator was trained on {self.channels}-channel images, got {images.shape[1]}.")
        h = self.body(self.prepare(images)).mean(dim=(2, 3))
        pool = F.relu(self.embed(h))
        return {"pool": pool, "logits": self.fc(pool)}


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 1/8 of the size (reflection padding): enough to reach >= 99% on MNIST."""
    pad = max(1, x.shape[-1] // 8)
    xp = F.pad(x.float(), (pad, pad, pad, pad), mode="replicate")
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return xp[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


@torch.no_grad()
def held_out_accuracy(net: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """Top-1 accuracy of the evaluator itself, with the same top-k routine the metrics use."""
    from .accuracy import topk_accuracy
    net.eval()
    logits = torch.cat([net(images[i:i + batch])["logits"] for i in range(0, len(images), batch)])
    return topk_accuracy(logits, labels, ks=(1,))[1]


def train_evaluator(images: np.ndarray, labels: np.ndarray, class_names: list[str], *, epochs: int = 10,
                    batch_size: int = 128, lr: float = 2e-3, held_out: float = 0.1, seed: int = 0,
                    held_out_images: np.ndarray | None = None, held_out_labels: np.ndarray | None = None,
                    width: int = 32, device: str | torch.device = "cpu", log=print) -> tuple[DomainClassifier, float]:
    """Train on (N, H, W, C) uint8 images; returns the network and its accuracy on held-out images (the
    given test set, else a stratified `held_out` fraction kept out of training)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    if held_out_images is None:
        rng = np.random.default_rng(seed)
        test_idx = np.concatenate([rng.permutation(np.flatnonzero(labels == k))[:max(1, int(held_out * (labels == k).sum()))]
                                   for k in np.unique(labels)])  # stratified
        train = torch.ones(len(labels), dtype=torch.bool)
        train[torch.from_numpy(test_idx)] = False
        x_te, y_te, x, y = x[~train], y[~train], x[train], y[train]
    else:
        x_te = torch.from_numpy(held_out_images).permute(0, 3, 1, 2).contiguous()
        y_te = torch.from_numpy(held_out_labels.astype(np.int64))
    device = torch.device(device)
    net = DomainClassifier(x.shape[1], len(class_names), x.shape[-1], width=width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    batch_size = min(batch_size, len(x))  # a data set smaller than one batch is one batch
    steps = epochs * max(1, len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = perm[i:i + batch_size]
            xb = _augment(x[idx], gen).to(device)
            # the network expects uint8-like values; feed floats on the same 0..255 scale
            loss = F.cross_entropy(net(xb)["logits"], y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        log(f"evaluator epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    acc = held_out_accuracy(net, x_te.to(device), y_te.to(device))
    return net.eval(), acc


def save_evaluator(net: DomainClassifier, path: Path, class_names: list[str], held_out_accuracy: float,
                   source: str) -> None:
    from ..io import write_checkpoint
    state = {"kind": FORMAT, "state_dict": net.state_dict(), "class_names": list(class_names),
             "arch": {"channels": net.channels, "num_classes": net.num_classes, "resolution": net.resolution,
                      "width": net.width, "features": net.feature_dim},
             "held_out_accuracy": float(held_out_accuracy), "source": source}
    write_checkpoint(state, Path(path))


def load_evaluator(path: Path, device: str | torch.device = "cpu") -> tuple[DomainClassifier, dict[str, Any]]:
    """Load without executing code; returns the network and its metadata (held-out accuracy, classes)."""
    from ..io import CheckpointError, read_checkpoint
    state = read_checkpoint(Path(path), map_location="cpu")
    if state.get("kind") != FORMAT:
        raise CheckpointError(f"'{path}' is a condgan checkpoint but not an evaluator (train one with "
                              "`condgan evaluator train --data X --out FILE`).")
    net = DomainClassifier(**state["arch"])
    net.load_state_dict(state["state_dict"])
    meta = {k: state[k] for k in ("class_names", "held_out_accuracy", "source")}
    return net.to(device).eval(), meta
