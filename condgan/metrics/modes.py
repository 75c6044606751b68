"""Mode coverage on Stacked MNIST: how many of the 1000 digit triples a generator produces, and the reverse
KL between its mode distribution and the uniform one (the PacGAN / VEEGAN definition that R3GAN reports).

Modes are read by a 1-channel MNIST classifier (`condgan.metrics.evaluator.DomainClassifier`, trained with
`train_evaluator` on MNIST padded like the stacked images, see `condgan.data.stacked_mnist.pad_digits`)
applied to each colour channel in turn. One ships with the package (`load_mnist_classifier`, 99%+ on the MNIST
test set, trained by `scripts/train_mnist_classifier.py`), so counting modes needs neither a download nor
MNIST itself; `StackedDigitFeatures` turns it into a feature network for FID/KID/PRDC on Stacked MNIST.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .evaluator import DomainClassifier, load_evaluator
from .weights import WeightsHashError, WeightsNotFoundError, sha256_file

MNIST_CLASSIFIER_PATH = Path(__file__).parent / "assets" / "mnist_classifier.pt"
# sha256 of the shipped file; retraining (scripts/train_mnist_classifier.py) prints the new one to put here.
MNIST_CLASSIFIER_SHA256 = "31a233f449b2daa1728b1fe9fe823b5cc5c89e18565c8cb70ca72617ce6f884b"


def load_mnist_classifier(path: str | os.PathLike | None = None, device: str | torch.device = "cpu", *,
                          sha256: str | None = MNIST_CLASSIFIER_SHA256) -> DomainClassifier:
    """The 1-channel MNIST digit classifier (uint8 (N, 1, 32, 32) padded digits -> {"pool", "logits"}), in eval
    mode. `path` None: the one packaged with condgan. The file's sha256 must equal `sha256` (by default the
    packaged file's), so that mode counts are comparable; pass sha256=None for a classifier of your own.
    """
    path = Path(path) if path is not None else MNIST_CLASSIFIER_PATH
    if not path.is_file():
        raise WeightsNotFoundError(f"MNIST classifier '{path}' does not exist. Create it with "
                                   f"`python scripts/train_mnist_classifier.py --mnist MNIST.npz --out {path}` "
                                   "(about 6 minutes on 2 CPU cores; if another torch or CPU gives other bits, "
                                   "load it with sha256=None), or reinstall condgan, which ships it.")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise WeightsHashError(f"MNIST classifier '{path}' has sha256 {actual}, expected {sha256}: the file "
                                   "is corrupt or another classifier. Reinstall condgan, or, for a classifier "
                                   "you trained yourself, pass sha256=None.")
    net, _ = load_evaluator(path, device=device)
    if net.channels != 1 or net.num_classes != 10:
        raise UsageError(f"'{path}' is a {net.channels}-channel, {net.num_classes}-class evaluator; the MNIST "
                         "classifier must read 1-channel digits into 10 classes.")
    return net.eval()


class StackedDigitFeatures(nn.Module):
    """A feature network for Stacked MNIST built from the MNIST classifier, with the interface of the Inception
    network and the domain evaluators (`condgan.metrics.evaluate.extract`): uint8 (N, 3, H, W) in,

    - "pool": (N, 3 * feature_dim), the classifier's features of the R, G and B digits, concatenated;
    - "logits": (N, 1000) log-probabilities of the digit triples, class 100 * a + 10 * b + c scored
      log p_R(a) + log p_G(b) + log p_B(c), so its argmax is `digit_classes` and softmax-based metrics
      (Inception Score, accuracy against Stacked-MNIST labels) work unchanged.
    """

    def __init__(self, classifier: DomainClassifier | None = None):
        super().__init__()
        self.digits = classifier if classifier is not None else load_mnist_classifier()
        self.channels, self.num_classes = 3, 1000
        self.resolution = self.digits.resolution
        self.feature_dim = 3 * self.digits.feature_dim
        self.eval()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"StackedDigitFeatures reads (N, 3, H, W) Stacked-MNIST images, got "
                             f"{tuple(images.shape)}")
        n, _, h, w = images.shape
        out = self.digits(images.reshape(n * 3, 1, h, w))  # rows: image 0 R, G, B, image 1 R, ...
        pool = out["pool"].reshape(n, self.feature_dim)
        lp = F.log_softmax(out["logits"].float(), dim=1).reshape(n, 3, 10)
        joint = lp[:, 0, :, None, None] + lp[:, 1, None, :, None] + lp[:, 2, None, None, :]
        return {"pool": pool, "logits": joint.reshape(n, 1000)}


@torch.no_grad()
def digit_classes(images: torch.Tensor | np.ndarray, classifier: nn.Module, batch: int = 500) -> np.ndarray:
    """uint8 (N, 3, H, W) -> (N,) int64 mode ids 100 * d_R + 10 * d_G + d_B in 0..999.

    `classifier` maps uint8 (B, 1, H, W) to {"logits": (B, 10)}; it is put in eval mode.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] != 3 or x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (N, 3, H, W) Stacked MNIST samples, got {x.dtype} {tuple(x.shape)}")
    classifier.eval()
    device = next(classifier.parameters()).device
    out = torch.empty(len(x), dtype=torch.int64)
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(device)
        digits = [classifier(xb[:, c:c + 1])["logits"].argmax(dim=1).cpu() for c in range(3)]
        out[i:i + batch] = 100 * digits[0] + 10 * digits[1] + digits[2]
    return out.numpy()


def mode_coverage(classes: np.ndarray | torch.Tensor, num_modes: int = 1000) -> dict[str, float | int]:
    """{"modes": modes seen at least once, "reverse_kl": KL(p_gen || uniform) = sum_{p>0} p log(p * num_modes)}.

    0 for a perfectly uniform sample; log(num_modes) when every sample falls in one mode.
    """
    c = np.asarray(classes).reshape(-1)
    if c.size == 0:
        raise ValueError("classes is empty: classify at least one generated image")
    if c.dtype.kind not in "iu" or c.min() < 0 or c.max() >= num_modes:
        raise ValueError(f"classes must be integer mode ids in [0, {num_modes}), got dtype {c.dtype}, "
                         f"range {c.min()}..{c.max()}")
    p = np.bincount(c, minlength=num_modes) / c.size
    seen = p[p > 0]
    return {"modes": int(seen.size), "reverse_kl": float(np.sum(seen * np.log(seen * num_modes)))}


@torch.no_grad()
def generator_modes(G: nn.Module, classifier: nn.Module, n: int, batch_stats: bool = False,
                    batch: int = 500) -> int:
    """Modes (of 1000) of `n` samples of an unconditional generator network (G(z, y) in [-1, 1]), latents
    seeded per batch, so that two generators (an EMA and its raw G) are compared on the same latents.
    `batch_stats`: BatchNorm uses each batch's statistics instead of its stored ones."""
    from ..sample import to_uint8
    G.train(batch_stats)
    classes = []
    for b in range(-(-n // batch)):
        m = min(batch, n - b * batch)
        z = torch.randn(m, G.z_dim, generator=torch.Generator().manual_seed(b))
        x = to_uint8(G(z, torch.zeros(m, dtype=torch.long))).permute(0, 3, 1, 2)
        classes.append(digit_classes(x, classifier))
    return int(mode_coverage(np.concatenate(classes))["modes"])
