"""R3GAN "Config E" (Huang et al., 2024, "The GAN is dead; long live the GAN!"): a ConvNeXt-style residual
backbone with no normalisation at all. Training stays stable through the RpGAN loss with R1 + R2, not through
BatchNorm or spectral norm, so the networks are plain convolutions with fix-up initialisation.

Written from the paper and its code (brownvc/R3GAN, `R3GAN/Networks.py`, `train.py`). At 32 px with
`widths=(768,) * 4`, `blocks=2`, `group_size=16`, `expansion=2`, `z_dim=64` and 10 classes (the paper's CIFAR-10
preset) G has 20.78M and D 21.28M parameters, as in the paper's Table 9.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .heads import make_head

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE ** 2))  # keeps unit variance through a leaky ReLU (He et al.)
CONVS_PER_BLOCK = 3  # m in the fix-up rule L^(-1/(2m-2))


def msr_init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """He/MSR init as in the paper's code: weight ~ N(0, gain^2 / fan_in), bias 0 (gain 0 zeroes the weight)."""
    fan_in = layer.weight[0].numel()  # in_channels / groups * k * k for a conv, in_features for a linear
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def num_stages(resolution: int) -> int:
    """Stages 4, 8, ..., resolution px; `widths` needs one entry per stage."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"R3GAN needs a power-of-two resolution >= 4 px, not {resolution} px: resize the data.")
    return int(math.log2(resolution)) - 1


def check_widths(widths: tuple[int, ...] | None, resolution: int, blocks: int, group_size: int, expansion: int
                 ) -> tuple[int, ...]:
    """Validate the stage layout, naming the argument at fault; None means the paper's 768 at every stage."""
    n = num_stages(resolution)
    widths = (768,) * n if widths is None else tuple(int(w) for w in widths)
    if len(widths) != n:
        raise ValueError(f"widths={widths} has {len(widths)} entries but {resolution} px needs {n} "
                         f"(one per stage 4..{resolution} px, from 4x4 up), e.g. widths={(widths[:1] or (256,)) * n}.")
    if blocks < 1:
        raise ValueError(f"blocks={blocks} must be >= 1 (residual blocks per stage).")
    if expansion < 1:
        raise ValueError(f"expansion={expansion} must be >= 1.")
    if group_size < 1:
        raise ValueError(f"group_size={group_size} must be >= 1.")
    for w in widths:
        if w < 1 or (w * expansion) % group_size:
            raise ValueError(f"widths entry {w} times expansion={expansion} is {w * expansion} channels, which "
                             f"group_size={group_size} does not divide; choose widths that are multiples of "
                             f"{group_size // math.gcd(group_size, expansion)}.")
    return widths


class ResidualBlock(nn.Module):
    """1x1 expand -> lrelu -> grouped 3x3 -> lrelu -> 1x1 project, added to the input.

    Fix-up init: the projection starts at zero, so the block is exactly the identity at initialisation, and
    the other two convs are scaled by L^(-1/(2m-2)) for L blocks in the network, so the residual branches'
    variance does not grow with depth once they start learning. Biases sit before each activation (the
    paper's BiasedActivation), hence none on the projection.
    """

    def __init__(self, channels: int, group_size: int, expansion: int, total_blocks: int):
        super().__init__()
        hidden = channels * expansion
        gain = LRELU_GAIN * total_blocks ** (-1 / (2 * CONVS_PER_BLOCK - 2))
        self.expand = msr_init(nn.Conv2d(channels, hidden, 1), gain)
        self.grouped = msr_init(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden // group_size), gain)
        self.project = msr_init(nn.Conv2d(hidden, channels, 1, bias=False), 0.0)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.expand(x), LRELU_SLOPE)
        h = F.leaky_relu(self.grouped(h), LRELU_SLOPE)
        return self.project(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)

    def official_forward(self, x: torch.Tensor) -> torch.Tensor:
        """forward() in the official order of operations, in x's dtype: each conv, then its bias, then the
        activation, each rounded on its own; in bf16 this reproduces the official rounding."""
        def conv(layer: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
            return F.conv2d(h, layer.weight.to(h.dtype), padding=layer.padding, groups=layer.groups)

        def act(layer: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(h + layer.bias.to(h.dtype)[:, None, None], LRELU_SLOPE)
        h = act(self.expand, conv(self.expand, x))
        h = act(self.grouped, conv(self.grouped, h))
        return x + conv(self.project, h)


def _lowpass_kernel() -> torch.Tensor:
    """The paper's resampling filter: [1, 2, 1] convolved with the box [1, 1] -> [1, 3, 3, 1], normalised 2-D."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


class Resample(nn.Module):
    """x2 bilinear up- or downsampling with the paper's [1, 3, 3, 1] lowpass filter, zero-padded at the border.

    In the interior this equals F.interpolate(bilinear, align_corners=False) for upsampling and its antialiased
    version for downsampling; we keep the paper's zero padding rather than interpolate's edge clamping so the
    networks match the original. A depthwise (transposed) conv, so it is differentiable twice for R1/R2.
    """

    def __init__(self, up: bool):
        super().__init__()
        self.up = up
        self.register_buffer("kernel", _lowpass_kernel()[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x.reshape(b * c, 1, h, w)
        k = self.kernel.to(x.dtype)
        if self.up:  # x4: the filter averages 4 zero-stuffed taps per output pixel
            y = F.conv_transpose2d(x, 4 * k, stride=2, padding=1)
        else:
            y = F.conv2d(x, k, stride=2, padding=1)
        return y.reshape(b, c, y.shape[-2], y.shape[-1])


def _conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return msr_init(nn.Conv2d(cin, cout, 1, bias=False))


def _in_dtype(module: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """module(x) computed in `dtype`, as the official code runs a bf16 stage: input, weights and biases are
    cast to that dtype (R3GAN/Networks.py casts each weight to its input's dtype). The module is untouched."""
    x = x.to(dtype)
    if isinstance(module, nn.Sequential):
        for layer in module:
            x = _in_dtype(layer, x, dtype)
        return x
    if isinstance(module, ResidualBlock):
        return module.official_forward(x)
    cast = {k: t.to(dtype) for k, t in [*module.named_parameters(), *module.named_buffers()]}
    return torch.func.functional_call(module, cast, (x,))


class OfficialPrecision:
    """The official R3GAN networks run some stages (`FP16Stages` in its train.py) in bfloat16. `bf16_stages`
    lists them (indices into `self.stages`); they are used only inside `with net.official_precision():`, so a
    plain call computes exactly as before, in fp32, and the networks stay ordinary modules for training."""
    bf16_stages: tuple[int, ...] = ()
    _official: bool = False

    def _set_bf16_stages(self, stages: tuple[int, ...] | list[int], n: int, forbidden: int) -> None:
        stages = tuple(sorted({int(i) % n if -n <= int(i) < n else int(i) for i in stages}))
        bad = [i for i in stages if not 0 <= i < n or i == forbidden]
        if bad:
            raise ValueError(f"bf16_stages={stages}: stage {bad[0]} cannot run in bf16 (stages 0..{n - 1}; "
                             f"stage {forbidden} holds the basis, which the official code keeps in fp32).")
        self.bf16_stages = stages

    @contextmanager
    def official_precision(self) -> Iterator[None]:
        """Compute the `bf16_stages` in bf16 as the official code does; a no-op when none is listed."""
        previous, self._official = self._official, True
        try:
            yield
        finally:
            self._official = previous

    def _run(self, stage: int, module: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """module(x) as part of stage `stage`: a plain call, or in that stage's official dtype (each official
        stage first casts its input to its own dtype, so an fp32 stage after a bf16 one computes in fp32)."""
        if not (self._official and self.bf16_stages):
            return module(x)
        return _in_dtype(module, x, torch.bfloat16 if stage in self.bf16_stages else dtype)


class Generator(OfficialPrecision, nn.Module):
    """G(z, y) -> images, shape (B, channels, resolution, resolution).

    The output is linear, not tanh-squashed, as in R3GAN: the data are scaled to [-1, 1] and the loss alone
    keeps samples there; condgan's sampler clamps to [-1, 1] when converting to uint8. With num_classes=1 there
    is nothing to embed, and G is the paper's unconditional generator.
    """

    def __init__(self, resolution: int, channels: int, num_classes: int, *, z_dim: int = 64,
                 widths: tuple[int, ...] | None = None, blocks: int = 2, group_size: int = 16,
                 expansion: int = 2, embed_dim: int | None = None, bf16_stages: tuple[int, ...] = ()):
        super().__init__()
        widths = check_widths(widths, resolution, blocks, group_size, expansion)
        self.resolution, self.channels, self.num_classes, self.z_dim = resolution, channels, num_classes, z_dim
        self.embed_dim = 0 if num_classes == 1 else (z_dim if embed_dim is None else embed_dim)
        # the paper embeds a one-hot label with an MSR-initialised linear map: std 1/sqrt(num_classes)
        self.embed = nn.Embedding(num_classes, self.embed_dim) if self.embed_dim else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(num_classes))
        # 4x4 learned basis, modulated per channel by a linear map of [z, embed(y)]
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.modulation = msr_init(nn.Linear(z_dim + self.embed_dim, widths[0], bias=False))
        total = blocks * len(widths)
        self.stages = nn.ModuleList()
        for i, w in enumerate(widths):
            layers: list[nn.Module] = []
            if i > 0:  # 1x1 conv before upsampling (cheaper at the low resolution), as in the paper
                if widths[i - 1] != w:
                    layers.append(_conv1x1(widths[i - 1], w))
                layers.append(Resample(up=True))
            layers += [ResidualBlock(w, group_size, expansion, total) for _ in range(blocks)]
            self.stages.append(nn.Sequential(*layers))
        self.to_rgb = _conv1x1(widths[-1], channels)
        self._set_bf16_stages(bf16_stages, len(widths), forbidden=0)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = self.basis[None] * self.modulation(z)[:, :, None, None]
        dtype, last = h.dtype, len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            h = self._run(i, stage, h, dtype)
        x = self._run(last, self.to_rgb, h, dtype)  # officially in the last stage's dtype
        return x.to(dtype) if self._official else x


class Discriminator(OfficialPrecision, nn.Module):
    """D(x, y) -> dict of head outputs; always `adv` (B,) — the logit the adversarial loss sees.

    `widths` is G's tuple (4x4 first), read here from the full resolution down. The paper's discriminative
    basis (a 4x4 depthwise conv to 1x1, then a bias-free linear map) yields the features; class conditioning
    is then condgan's head, as for BigGAN. The official output is head `projection_only`, <embed(y), features>
    (R3GAN/Networks.py); with one class that head's single embedding row is the official bias-free readout
    w·basis, so the linear map, redundant before it, is left out (as in the official unconditional D).
    """

    def __init__(self, resolution: int, channels: int, num_classes: int, *, widths: tuple[int, ...] | None = None,
                 blocks: int = 2, group_size: int = 16, expansion: int = 2, head: str = "projection_only",
                 head_options: dict | None = None, bf16_stages: tuple[int, ...] = ()):
        super().__init__()
        widths = check_widths(widths, resolution, blocks, group_size, expansion)[::-1]
        self._set_bf16_stages(bf16_stages, len(widths), forbidden=len(widths) - 1)
        total = blocks * len(widths)
        self.from_rgb = _conv1x1(channels, widths[0])
        self.stages = nn.ModuleList()
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [ResidualBlock(w, group_size, expansion, total) for _ in range(blocks)]
            if i + 1 < len(widths):  # downsample, then 1x1 conv at the low resolution
                layers.append(Resample(up=False))
                if widths[i + 1] != w:
                    layers.append(_conv1x1(w, widths[i + 1]))
            self.stages.append(nn.Sequential(*layers))
        c = widths[-1]
        self.basis = msr_init(nn.Conv2d(c, c, 4, groups=c, bias=False))
        official_unconditional = head == "projection_only" and num_classes == 1
        self.linear = nn.Identity() if official_unconditional else msr_init(nn.Linear(c, c, bias=False))
        self.head = make_head(head, c, num_classes, **(head_options or {}))
        for m in self.head.modules():  # paper: unit-gain readout, class embedding std 1/sqrt(classes * dim)
            if isinstance(m, nn.Linear):
                msr_init(m)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, 1 / math.sqrt(m.weight.numel()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = self._run(0, self.from_rgb, x, dtype)  # officially in the first stage's dtype
        for i, stage in enumerate(self.stages):
            h = self._run(i, stage, h, dtype)
        if self._official:
            h = h.to(dtype)
        return self.linear(self.basis(h).flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.features(x), y)
