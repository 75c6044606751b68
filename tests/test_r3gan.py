import math

import pytest
import torch
import torch.nn.functional as F

from condgan.losses.gradient_penalty import gradient_norm_squared
from condgan.losses.relativistic import rpgan_d, rpgan_g
from condgan.models.r3gan import Discriminator, Generator, Resample, ResidualBlock

TINY = dict(widths=(16, 16, 8, 8), blocks=1, group_size=8, expansion=2)  # 32 px, four stages


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_rpgan_on_hand_made_logits():
    real = torch.tensor([1.0, 0.0, 2.0])
    fake = torch.tensor([1.0, math.log(3.0), -1.0])
    # D: softplus(fake - real) = log 2, log(1 + 3) = log 4, log(1 + e^-3)
    expected_d = (math.log(2) + math.log(4) + math.log1p(math.exp(-3))) / 3
    # G: softplus(real - fake) = log 2, log(1 + 1/3), log(1 + e^3)
    expected_g = (math.log(2) + math.log(4 / 3) + math.log1p(math.exp(3))) / 3
    assert rpgan_d(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert rpgan_g(fake, real).item() == pytest.approx(expected_g, rel=1e-6)


def test_rpgan_is_relativistic():
    real, fake = torch.randn(5), torch.randn(5)
    assert rpgan_d(real + 7.0, fake + 7.0).item() == pytest.approx(rpgan_d(real, fake).item(), rel=1e-6)


def _finite_difference_norms(D, x, y, h=1e-5):
    """Central differences of each sample's logit over each input value, then the squared norm."""
    out = torch.zeros(len(x), dtype=x.dtype)
    flat = x.detach().clone().reshape(len(x), -1)
    with torch.no_grad():
        for i in range(flat.shape[1]):
            e = torch.zeros_like(flat)
            e[:, i] = h
            up = D((flat + e).view_as(x), y)["adv"]
            down = D((flat - e).view_as(x), y)["adv"]  # samples are independent: perturb all at once
            out += ((up - down) / (2 * h)) ** 2
    return out


def test_r1_r2_match_finite_differences():
    torch.manual_seed(0)
    D = Discriminator(8, 1, 3, widths=(8, 8), blocks=1, group_size=4, expansion=2).double()
    with torch.no_grad():  # wake the zero-initialised residual branches so every layer matters
        for p in D.parameters():
            p.add_(0.3 * torch.randn_like(p))
    real, fake = torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([0, 2])
    x = torch.cat([real, fake]).requires_grad_(True)
    adv = D(x, torch.cat([y, y]))["adv"]
    g2 = gradient_norm_squared(adv, x)
    assert g2.shape == (4,)
    r1, r2 = g2[:2].mean(), g2[2:].mean()
    fd = _finite_difference_norms(D, x, torch.cat([y, y]))
    fd_real, fd_fake = fd[:2], fd[2:]
    assert torch.allclose(g2, fd, rtol=1e-6)
    assert r1.item() == pytest.approx(fd_real.mean().item(), rel=1e-6)
    assert r2.item() == pytest.approx(fd_fake.mean().item(), rel=1e-6)
    (r1 + r2).backward()  # the penalty is differentiable with respect to D's weights
    assert D.from_rgb.weight.grad is not None and D.from_rgb.weight.grad.abs().sum() > 0


def test_fixup_init_makes_every_residual_block_the_identity():
    torch.manual_seed(0)
    for net in (Generator(32, 3, 10, **TINY), Discriminator(32, 3, 10, **TINY)):
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert len(blocks) == 4
        for block in blocks:
            c = block.expand.in_channels
            x = torch.randn(2, c, 8, 8)
            assert torch.equal(block(x), x)
            assert torch.count_nonzero(block.project.weight) == 0 and block.project.bias is None


def test_fixup_scales_the_other_convs_by_depth():
    torch.manual_seed(0)
    block = ResidualBlock(256, group_size=16, expansion=2, total_blocks=16)
    lrelu_gain = math.sqrt(2 / (1 + 0.2 ** 2))
    expected = lrelu_gain * 16 ** -0.25 / math.sqrt(256)  # L^(-1/(2m-2)) with m = 3, He std 1/sqrt(fan_in)
    assert block.expand.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert block.grouped.weight.std().item() == pytest.approx(lrelu_gain * 16 ** -0.25 / math.sqrt(16 * 9), rel=0.02)
    assert block.grouped.groups == 512 // 16
    assert torch.count_nonzero(block.expand.bias) == 0


def test_cifar10_config_parameter_counts_match_the_paper():
    # brownvc/R3GAN train.py, preset CIFAR10 (--cond=True): WidthPerStage = [3 * 1024 // 4] * 4 = 768,
    # BlocksPerStage = [2] * 4, CardinalityPerStage = [96] * 4 (1536 expanded channels / 96 = groups of 16),
    # ExpansionFactor = 2, NoiseDimension = 64, G ConditionEmbeddingDimension = 64, D's = WidthPerStage[0] = 768.
    # Paper Table 9 (CIFAR-10): G 20.78M, D 21.28M parameters.
    cfg = dict(widths=(768,) * 4, blocks=2, group_size=16, expansion=2)
    G = Generator(32, 3, 10, z_dim=64, embed_dim=64, **cfg)
    D = Discriminator(32, 3, 10, **cfg)
    assert n_params(G) == pytest.approx(20.78e6, rel=0.02)
    assert n_params(D) == pytest.approx(21.28e6, rel=0.02)
    assert n_params(G) == 20_781_952  # as in the paper's code to the parameter
    assert n_params(D) == 21_280_512  # as in the paper's code: the default head is its projection_only readout


def test_forward_shapes_at_32px():
    torch.manual_seed(0)
    G, D = Generator(32, 3, 10, z_dim=16, **TINY), Discriminator(32, 3, 10, **TINY)
    assert (G.z_dim, G.resolution, G.channels, G.num_classes) == (16, 32, 3, 10)
    z, y = torch.randn(5, 16), torch.randint(0, 10, (5,))
    x = G(z, y)
    assert x.shape == (5, 3, 32, 32) and torch.isfinite(x).all()
    assert D.features(x).shape == (5, 16)  # widths[0], the 4x4 stage
    out = D(x, y)
    assert out["adv"].shape == (5,) and torch.isfinite(out["adv"]).all()


def test_class_changes_the_output():
    torch.manual_seed(0)
    G = Generator(16, 3, 4, z_dim=8, widths=(8, 8, 8), blocks=1, group_size=4)
    z = torch.randn(1, 8).repeat(2, 1)
    x = G(z, torch.tensor([0, 1]))
    assert not torch.allclose(x[0], x[1])


def test_unconditional():
    torch.manual_seed(0)
    G, D = Generator(32, 1, 1, z_dim=8, **TINY), Discriminator(32, 1, 1, **TINY)
    assert G.embed is None  # nothing to embed: the paper's unconditional G
    y = torch.zeros(3, dtype=torch.long)
    x = G(torch.randn(3, 8), y)
    assert x.shape == (3, 1, 32, 32)
    assert D(x, y)["adv"].shape == (3,)


def test_resampling_is_bilinear_away_from_the_border():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    up = Resample(up=True)(x)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (2, 3, 16, 16)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])
    down = Resample(up=False)(x)
    ref = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
    assert down.shape == (2, 3, 4, 4)
    assert torch.allclose(down[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])


@pytest.mark.parametrize("kwargs, word", [
    (dict(widths=(16, 16, 16)), "widths"),
    (dict(widths=(16, 16, 16, 12), group_size=16, expansion=1), "group_size"),
    (dict(widths=(16,) * 4, blocks=0), "blocks"),
])
def test_bad_layouts_are_named(kwargs, word):
    for cls in (Generator, Discriminator):
        with pytest.raises(ValueError, match=word):
            cls(32, 3, 10, **kwargs)
    with pytest.raises(ValueError, match="power-of-two"):
        Generator(24, 3, 10)
