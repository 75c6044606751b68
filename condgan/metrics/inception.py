"""The FID Inception-v3: TensorFlow's 2015-12-05 graph, rewritten as a PyTorch module.

FID, KID, precision/recall and the Inception Score are only comparable across papers when they are computed
with this exact network (not torchvision's Inception-v3, whose weights and pooling differ) and with the same
pre-processing. The module reproduces the graph that pytorch-fid and torch-fidelity port:

- BatchNorm with eps 1e-3 and no learned scale (the converted weights carry ``bn.weight`` = 1);
- the average pools inside the A, C and first E blocks ignore padded zeros (TF's ``SAME`` average pool),
  i.e. ``count_include_pad=False``;
- the last E block (``Mixed_7c``) pools its fourth branch with a 3x3 *max* pool, a quirk of that graph;
- a 1008-way classifier (1000 ImageNet classes plus 8 unused ones).

Sub-module names follow torchvision's ``Inception3`` so that pytorch-fid's weights file
(``pt_inception-2015-12-05-6726825d.pth``, identical to torch-fidelity's) loads with ``strict=True``.

Pre-processing. ``resize="torch-fidelity"`` (default) resizes to 299x299 with TensorFlow 1.x's bilinear rule
(``tf.image.resize_bilinear`` with ``align_corners=False``: source coordinate = destination index * in/out, no
half-pixel offset) and scales by (x - 128) / 128, which is what the original TF FID code fed the graph and what
torch-fidelity reproduces. ``resize="pytorch-fid"`` reproduces pytorch-fid instead: images in [0, 1],
``F.interpolate(bilinear, align_corners=False)`` (half-pixel centres), then 2x - 1. The two disagree for any
input that is not already 299x299, enough to move FID noticeably, so the choice is explicit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 299
RESIZE_MODES = ("torch-fidelity", "pytorch-fid")


# ---------------------------------------------------------------------------------------------------------
# Resizing.

def _tf1_axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Low/high source indices and fractional weight for one axis of a TF1 bilinear resize.

    The coordinate is computed in float32 (index * float32(in/out)), as TF does; computing it in float64
    would move a few source positions across an integer and change the result in the last bits.
    """
    scale = torch.tensor(in_size / out_size, dtype=torch.float32, device=device)
    pos = torch.arange(out_size, dtype=torch.float32, device=device) * scale
    lo = pos.floor().long().clamp_max(in_size - 1)
    hi = (lo + 1).clamp_max(in_size - 1)
    return lo, hi, pos - lo.float()


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a float (N, C, H, W) tensor exactly as TensorFlow 1.x (align_corners=False) does.

    Interpolates along W first, then along H, each as ``a + (b - a) * t``: the same order and formula as
    TF's kernel and torch-fidelity's exact port, so results agree bit for bit on CPU.
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"expected a float (N, C, H, W) tensor, got {tuple(x.shape)} {x.dtype}")
    (h_in, w_in), (h_out, w_out) = x.shape[-2:], size
    ylo, yhi, dy = _tf1_axis(h_in, h_out, x.device)
    xlo, xhi, dx = _tf1_axis(w_in, w_out, x.device)
    dx, dy = dx.to(x.dtype).view(1, 1, 1, w_out), dy.to(x.dtype).view(1, 1, h_out, 1)
    top, bottom = x.index_select(2, ylo), x.index_select(2, yhi)
    top = top.index_select(3, xlo) + (top.index_select(3, xhi) - top.index_select(3, xlo)) * dx
    bottom = bottom.index_select(3, xlo) + (bottom.index_select(3, xhi) - bottom.index_select(3, xlo)) * dx
    return top + (bottom - top) * dy


def preprocess(x: torch.Tensor, resize: str = "torch-fidelity") -> torch.Tensor:
    """uint8 images (N, C, H, W), C in {1, 3} -> the float32 (N, 3, 299, 299) input the graph expects."""
    if x.dtype != torch.uint8:
        raise TypeError(f"FIDInceptionV3 takes uint8 images in [0, 255], got {x.dtype}: quantise first, as a "
                        "saved PNG would be, so features match those of the same images read from disk")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    size = (INPUT_SIZE, INPUT_SIZE)
    if resize == "torch-fidelity":
        return (resize_bilinear_tf1(x.float(), size) - 128) / 128
    if resize == "pytorch-fid":
        x = F.interpolate(x.float() / 255, size=size, mode="bilinear", align_corners=False)
        return 2 * x - 1
    raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")


# ---------------------------------------------------------------------------------------------------------
# Building blocks. Attribute names are torchvision's, so that the published state dict maps one to one.

class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3) -> ReLU, the unit every Inception branch is made of."""

    def __init__(self, c_in: int, c_out: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    """TF's 3x3 'SAME' average pool: the border windows average only the real pixels."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool_tf(x)),
        ], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b-e)."""

    def __init__(self, c_in: int, channels_7x7: int) -> None:
        super().__init__()
        c7, k17, k71 = channels_7x7, dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **k17)
        self.branch7x7_3 = BasicConv2d(c7, 192, **k71)
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **k71)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **k17)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **k71)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **k17)
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            bd = conv(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_tf(x))], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 outputs (Mixed_7b, Mixed_7c).

    ``pool="max"`` for Mixed_7c: the 2015 graph max-pools there where the paper (and torchvision) average.
    """

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(c_in, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _avg_pool_tf(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(pooled),
        ], 1)


# ---------------------------------------------------------------------------------------------------------
# The network.

class FIDInceptionV3(nn.Module):
    """uint8 images -> ``{"pool": (N, 2048) float32, "logits": (N, 1008) float32}``.

    ``pool`` is the global average pool after Mixed_7c (the FID/KID/precision-recall feature). ``logits``,
    present only when ``classifier=True``, is ``pool @ fc.weight.T`` *without* the bias: torch-fidelity's
    ``logits_unbiased``, which is what the original TF Inception Score code soft-maxes (its graph reads the
    matmul before the bias add). ``fc.bias`` is kept so that the published state dict loads strictly.

    Weights are random until a state dict is loaded; use :func:`condgan.metrics.weights.load_feature_network`
    to get a verified, ready network. Input images of any size are resized to 299x299 (see module docstring
    for ``resize``); one-channel images are repeated to three.
    """

    def __init__(self, resize: str = "torch-fidelity", classifier: bool = True) -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        self.resize = resize
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, 1008) if classifier else None

    @property
    def has_logits(self) -> bool:
        return self.fc is not None

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> the float (N, 3, 299, 299) network input, per ``self.resize``."""
        return preprocess(x, self.resize)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Already pre-processed (N, 3, 299, 299) input -> (N, 2048) pool features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool = self.features(self.preprocess(x))
        out = {"pool": pool.float()}
        if self.fc is not None:
            out["logits"] = (pool @ self.fc.weight.T).float()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module's, except that a state dict without ``fc.*`` (a pool-only network) drops the classifier
        first, so that strict loading still checks every other key."""
        if self.fc is not None and not any(k.startswith("fc.") for k in state_dict):
            self.fc = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
