"""BigGAN (Brock et al., 2019): residual generator with shared class embedding and hierarchical latent
feeding conditional BatchNorm; residual discriminator whose class conditioning is a separate head.

The block layout (widths as multiples of `ch`, where D downsamples) is chosen by resolution, following
BigGAN-PyTorch / StudioGAN. 16 px is condgan's own small layout for CPU-sized runs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .heads import make_head
from .layers import ConditionalBatchNorm2d, SelfAttention, apply_spectral_norm, init_weights

# resolution -> [(in_mult, out_mult)] per G block, each block doubling the resolution from 4x4
G_LAYOUTS = {
    16: [(4, 4), (4, 4)],
    32: [(4, 4), (4, 4), (4, 4)],
    64: [(16, 8), (8, 4), (4, 2), (2, 1)],
    128: [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)],
}
# resolution -> [(out_mult, downsample)] per D block
D_LAYOUTS = {
    16: [(2, True), (2, True), (2, False)],
    32: [(2, True), (2, True), (2, False), (2, False)],
    64: [(1, True), (2, True), (4, True), (8, True), (16, False)],
    128: [(1, True), (2, True), (4, True), (8, True), (16, True), (16, False)],
}


def _check_resolution(resolution: int) -> None:
    if resolution not in G_LAYOUTS:
        raise ValueError(f"BigGAN has block layouts for {sorted(G_LAYOUTS)} px, not {resolution} px: "
                         "resize the data or choose another architecture.")


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int, bn_eps: float):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, cond_dim, bn_eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(cout, cond_dim, bn_eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """G(z, y) -> images in [-1, 1], shape (B, channels, resolution, resolution)."""

    def __init__(self, resolution: int, channels: int, num_classes: int, ch: int = 96, z_dim: int = 80,
                 shared_dim: int = 128, hier: bool = True, attn_res: int | None = 16,
                 spectral_norm: bool = True, bn_eps: float = 1e-4, init: str = "ortho"):
        super().__init__()
        _check_resolution(resolution)
        layout = G_LAYOUTS[resolution]
        self.resolution, self.channels, self.num_classes, self.z_dim = resolution, channels, num_classes, z_dim
        self.num_chunks = len(layout) + 1 if hier else 1
        if z_dim % self.num_chunks:
            raise ValueError(f"G.z_dim={z_dim} must split into {self.num_chunks} equal chunks "
                             f"(one per block plus the input) at {resolution} px; try {self.num_chunks * 20}.")
        self.chunk = z_dim // self.num_chunks
        cond_dim = shared_dim + (self.chunk if hier else 0)
        self.hier = hier
        self.shared = nn.Embedding(num_classes, shared_dim)
        self.bottom = layout[0][0] * ch
        self.linear = nn.Linear(self.chunk if hier else z_dim, self.bottom * 4 * 4)
        self.blocks = nn.ModuleList()
        res = 4
        for cin, cout in layout:
            res *= 2
            block = nn.ModuleList([GBlock(cin * ch, cout * ch, cond_dim, bn_eps)])
            if attn_res == res:
                block.append(SelfAttention(cout * ch))
            self.blocks.append(block)
        self.out_bn = nn.BatchNorm2d(layout[-1][1] * ch, eps=bn_eps)
        self.out_conv = nn.Conv2d(layout[-1][1] * ch, channels, 3, padding=1)
        init_weights(self, init)
        if spectral_norm:
            apply_spectral_norm(self, skip=(self.shared,))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shared = self.shared(y)
        if self.hier:
            zs = z.split(self.chunk, dim=1)
            z0, conds = zs[0], [torch.cat([shared, zi], dim=1) for zi in zs[1:]]
        else:
            z0, conds = z, [shared] * len(self.blocks)
        h = self.linear(z0).view(z.shape[0], self.bottom, 4, 4)
        for block, cond in zip(self.blocks, conds):
            h = block[0](h, cond)
            for attn in block[1:]:
                h = attn(h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


# D block forms: what the shortcut of a pre-activation block reads. BigGAN-PyTorch (layers.py, DBlock) insists on
# an out-of-place ReLU, so the shortcut reads x; StudioGAN (src/models/big_resnet.py, DiscBlock) applies its
# in-place nn.ReLU to the block input, so the shortcut reads relu(x). The first block (its input is the image,
# no pre-activation) is the same in both.
D_BLOCK_FORMS = ("biggan-pytorch", "studiogan")


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, preactivation: bool, form: str = "biggan-pytorch"):
        super().__init__()
        if form not in D_BLOCK_FORMS:
            raise ValueError(f"Unknown D block form '{form}'; available: {', '.join(D_BLOCK_FORMS)}.")
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None
        self.down, self.preactivation = down, preactivation
        self.shortcut_reads_relu = preactivation and form == "studiogan"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        if self.shortcut_reads_relu:
            x = h
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        # the first ("optimised") block pools before its 1x1 conv, the others after (as in BigGAN)
        if self.preactivation:
            s = self.skip(x) if self.skip is not None else x
            s = F.avg_pool2d(s, 2) if self.down else s
        else:
            s = F.avg_pool2d(x, 2) if self.down else x
            s = self.skip(s) if self.skip is not None else s
        return h + s


class Discriminator(nn.Module):
    """D(x, y) -> dict of head outputs; always `adv` (B,) — the logit the adversarial loss sees."""

    def __init__(self, resolution: int, channels: int, num_classes: int, ch: int = 96,
                 attn_res: int | None = 16, spectral_norm: bool = True, head: str = "projection",
                 init: str = "ortho", block_form: str = "biggan-pytorch", head_options: dict | None = None):
        super().__init__()
        _check_resolution(resolution)
        self.blocks = nn.ModuleList()
        cin, res, attn_done = channels, resolution, False
        for i, (mult, down) in enumerate(D_LAYOUTS[resolution]):
            res //= 2 if down else 1
            self.blocks.append(DBlock(cin, mult * ch, down, preactivation=i > 0, form=block_form))
            if attn_res == res and not attn_done:
                self.blocks.append(SelfAttention(mult * ch))
                attn_done = True
            cin = mult * ch
        self.head = make_head(head, cin, num_classes, **(head_options or {}))
        init_weights(self, init)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.features(x), y)
