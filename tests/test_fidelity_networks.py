"""Network-side fidelity to the official code (issue 12, items 4, 5 and 8).

Each reference below is restated in our own words from the file it cites; nothing of that code is imported.
- R3GAN's D (brownvc/R3GAN, R3GAN/Networks.py `Discriminator`, train.py presets): the last stage's
  discriminative basis ends in a bias-free linear map to `ConditionEmbeddingDimension` (= G's first-stage
  width) when conditional, to 1 when not; the conditional output is only the inner product of that vector with
  a bias-free linear embedding of the one-hot label, initialised N(0, 1 / (dim * classes)). No w·h + b term.
- StudioGAN's BigGAN D (PyTorch-StudioGAN, src/models/big_resnet.py `DiscBlock`, `DiscOptBlock`, `Discriminator`;
  src/config.py makes `d_act_fn` an in-place ReLU): a DiscBlock keeps a reference to its input, then applies the
  in-place ReLU, so its shortcut branch reads relu(x). The optimised first block convolves first, so the ReLU
  acts on a new tensor and its shortcut still reads the image.
- StudioGAN's heads (same file): `linear1` (adv, with bias); ACGAN's `linear2` to the classes has no bias;
  ReACGAN's (D2DCE) `linear2` to the embedding has a bias and its class `embedding` has none.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import condgan
from condgan.config import ConfigError
from condgan.models import build_networks
from condgan.models.biggan import Discriminator as BigGANDiscriminator
from condgan.models.layers import SelfAttention
from condgan.models.r3gan import Discriminator as R3GANDiscriminator


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_networks(preset: str, num_classes: int, resolution: int = 32):
    """Build a preset's networks without allocating or initialising their weights (counts only)."""
    with torch.device("meta"):
        return build_networks(condgan.load_config(preset), num_classes, resolution, 3)


# ---------------------------------------------------------------- item 4: R3GAN's discriminator output

def official_r3gan_d_params(widths: list[int], blocks: int, group_size: int, expansion: int, classes: int) -> int:
    """Parameter count of R3GAN/Networks.py's Discriminator, derived from its layer layout (`widths` in G's
    order, 4x4 first; D runs them in reverse). classes=1 means unconditional."""
    d_widths = widths[::-1]
    total = 3 * d_widths[0]                                  # bias-free 1x1 extraction conv
    for i, w in enumerate(d_widths):
        h = w * expansion
        per_block = w * h + h + h * group_size * 9 + h + h * w  # 1x1, bias, grouped 3x3, bias, 1x1 (bias-free)
        total += blocks * per_block
        if i + 1 < len(d_widths) and d_widths[i + 1] != w:
            total += w * d_widths[i + 1]                     # 1x1 after downsampling
    out = widths[0] if classes > 1 else 1                    # ConditionEmbeddingDimension = WidthPerStage[0]
    total += 16 * d_widths[-1] + d_widths[-1] * out          # depthwise 4x4 basis, bias-free linear
    if classes > 1:
        total += classes * out                               # bias-free linear embedding of the one-hot label
    return total


@pytest.mark.parametrize("preset, classes, resolution, widths, group_size", [
    ("cifar10-r3gan", 10, 32, [768] * 4, 16),
    ("imagenet32-r3gan", 1000, 32, [1536] * 4, 32),
    ("ffhq64-r3gan", 1, 64, [768] * 4 + [384], 16),
    ("imagenet64-r3gan", 1000, 64, [1536] * 5, 32),
    ("ffhq256-r3gan", 1, 256, [768] * 4 + [384, 192, 96], 16),
    ("stacked-mnist-r3gan", 1, 32, [256] * 4, 16),
])
def test_r3gan_presets_have_the_official_discriminator(preset, classes, resolution, widths, group_size):
    G, D = meta_networks(preset, classes, resolution)
    assert n_params(D) == official_r3gan_d_params(widths, 2, group_size, 2, classes)


def test_cifar10_r3gan_parameter_counts_are_the_official_ones():
    # Built from brownvc/R3GAN's own classes with train.py's CIFAR10 preset and --cond=True.
    G, D = meta_networks("cifar10-r3gan", 10)
    assert (n_params(G), n_params(D)) == (20_781_952, 21_280_512)
    G, D = meta_networks("cifar10-r3gan", 1)  # the same preset run unconditionally (--cond=False)
    assert n_params(D) == 20_683_776


def small_r3gan_d(classes: int, head: str = "projection_only") -> R3GANDiscriminator:
    torch.manual_seed(0)
    D = R3GANDiscriminator(8, 3, classes, widths=(32, 16), blocks=1, group_size=8, expansion=2, head=head)
    with torch.no_grad():  # leave the fix-up init (zero projections, zero biases), so every weight matters
        for p in D.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return D


def test_r3gan_conditional_output_is_the_inner_product_only():
    D = small_r3gan_d(10)
    x, y = torch.randn(6, 3, 8, 8), torch.arange(6) % 10
    out = D(x, y)["adv"]
    # Official: the last stage's basis and its linear map give a vector v(x) of width 32 (G's first width);
    # the output is sum_k v_k(x) * E[k, :] @ onehot(y), with E the bias-free label embedding, and nothing else.
    v = D.linear(D.basis(_r3gan_trunk(D, x)).flatten(1))
    E = D.head.embed.weight.t()                              # (dim, classes): the official linear layer's weight
    expected = (v * (F.one_hot(y, 10).float() @ E.t())).sum(dim=1)
    assert torch.allclose(out, expected, rtol=1e-5, atol=0)
    assert not any(isinstance(m, torch.nn.Linear) and m.bias is not None for m in D.modules())


def test_r3gan_unconditional_output_is_a_bias_free_readout():
    D = small_r3gan_d(1)
    x = torch.randn(5, 3, 8, 8)
    # Official (no ConditionDimension): the basis' linear map goes straight to one output, w · basis(x).
    w = D.head.embed.weight[0]
    expected = D.basis(_r3gan_trunk(D, x)).flatten(1) @ w
    assert torch.allclose(D(x, torch.zeros(5, dtype=torch.long))["adv"], expected, rtol=1e-5, atol=0)
    assert n_params(D) == official_r3gan_d_params([32, 16], 1, 8, 2, 1)


def _r3gan_trunk(D: R3GANDiscriminator, x: torch.Tensor) -> torch.Tensor:
    h = D.from_rgb(x)
    for stage in D.stages:
        h = stage(h)
    return h


def test_r3gan_class_embedding_init_matches_the_official_scale():
    # MSR init of a bias-free Linear(classes -> dim) with gain 1/sqrt(dim): std 1/sqrt(classes * dim).
    torch.manual_seed(0)
    D = R3GANDiscriminator(8, 3, 100, widths=(64, 64), blocks=1, group_size=8, expansion=1, head="projection_only")
    assert D.head.embed.weight.std().item() == pytest.approx((100 * 64) ** -0.5, rel=0.05)


def test_projection_head_keeps_the_unconditional_term():
    # The paper's projection discriminator (the BigGAN presets) still adds w·h + b.
    D = small_r3gan_d(10, head="projection")
    assert n_params(D) == n_params(small_r3gan_d(10)) + 32 + 1


# ---------------------------------------------------------------- item 5: StudioGAN's D block

def studiogan_disc_block(block, x: torch.Tensor) -> torch.Tensor:
    """StudioGAN's DiscBlock with spectral norm (no BN): the in-place ReLU rewrites the tensor the shortcut
    kept, so both branches start from relu(x); the shortcut convolves (if it has a conv), then pools."""
    a = F.relu(x)
    h = F.conv2d(F.relu(F.conv2d(a, block.conv1.weight, block.conv1.bias, padding=1)),
                 block.conv2.weight, block.conv2.bias, padding=1)
    s = a if block.skip is None else F.conv2d(a, block.skip.weight, block.skip.bias)
    if block.down:
        h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
    return h + s


def studiogan_opt_block(block, x: torch.Tensor) -> torch.Tensor:
    """StudioGAN's DiscOptBlock: conv, ReLU, conv, pool; the shortcut pools the image, then its 1x1 conv."""
    h = F.conv2d(F.relu(F.conv2d(x, block.conv1.weight, block.conv1.bias, padding=1)),
                 block.conv2.weight, block.conv2.bias, padding=1)
    return F.avg_pool2d(h, 2) + F.conv2d(F.avg_pool2d(x, 2), block.skip.weight, block.skip.bias)


def studiogan_d_adv(D: BigGANDiscriminator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h, first = x, True
    for block in D.blocks:
        if isinstance(block, SelfAttention):  # not under test here: the same module in both forms
            h = block(h)
        else:
            h = studiogan_opt_block(block, h) if first else studiogan_disc_block(block, h)
            first = False
    h = F.relu(h).sum(dim=(2, 3))
    return D.head.linear(h).squeeze(1) + (D.head.embed(y) * h).sum(dim=1)


def small_biggan_d(form: str) -> BigGANDiscriminator:
    torch.manual_seed(0)
    D = BigGANDiscriminator(32, 3, 10, ch=4, attn_res=16, spectral_norm=False, block_form=form)
    with torch.no_grad():  # non-zero biases and attention gain, so every path is exercised
        for p in D.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return D


def test_studiogan_block_form_matches_studiogan_discriminator():
    D = small_biggan_d("studiogan")
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 3, 7, 9])
    assert torch.allclose(D(x, y)["adv"], studiogan_d_adv(D, x, y), rtol=1e-5, atol=0)


def test_biggan_pytorch_block_form_differs_from_studiogan():
    sg, bp = small_biggan_d("studiogan"), small_biggan_d("biggan-pytorch")
    bp.load_state_dict(sg.state_dict())
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 3, 7, 9])
    ref = studiogan_d_adv(sg, x, y)
    rel = ((bp(x, y)["adv"] - ref).abs().max() / ref.abs().max()).item()
    assert rel > 1e-2


def test_first_block_reads_the_image_in_both_forms():
    sg, bp = small_biggan_d("studiogan"), small_biggan_d("biggan-pytorch")
    bp.load_state_dict(sg.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(sg.blocks[0](x), bp.blocks[0](x))
    assert torch.allclose(sg.blocks[0](x), studiogan_opt_block(sg.blocks[0], x), rtol=1e-5, atol=1e-6)


STUDIOGAN_PRESETS = ["cifar10-biggan", "cifar10-acgan", "cifar10-reacgan", "cifar10-reacgan-diffaug",
                     "cifar10-reacgan-ada", "tiny-imagenet-reacgan", "cub200-reacgan", "imagenet128-reacgan"]


@pytest.mark.parametrize("preset", STUDIOGAN_PRESETS)
def test_studiogan_presets_use_studiogans_block(preset):
    assert condgan.load_config(preset).D.block_form == "studiogan"


@pytest.mark.parametrize("preset", ["imagenet128-biggan", "digits"])
def test_other_biggan_presets_keep_biggan_pytorchs_block(preset):
    assert condgan.load_config(preset).D.block_form == "biggan-pytorch"


def test_bad_block_form_names_the_key():
    with pytest.raises(ConfigError, match="D.block_form"):
        condgan.load_config("digits", ["D.block_form=inplace"])


# ---------------------------------------------------------------- item 8: classifier-head biases

def narrow_preset_d(preset: str) -> BigGANDiscriminator:
    """The preset's D at width 4 (the head's layout does not depend on the width)."""
    return build_networks(condgan.load_config(preset, ["G.ch=4", "D.ch=4"]), 10, 32, 3)[1]


def test_cifar10_acgan_classifier_has_no_bias():
    D = narrow_preset_d("cifar10-acgan")
    features = D.head.linear.in_features
    assert D.head.classifier.bias is None
    assert D.head.linear.bias is not None                    # linear1 keeps its bias
    assert n_params(D.head) == (features + 1) + features * 10  # linear1 (bias) + linear2 (bias-free)


def test_classifier_bias_is_the_default_elsewhere():
    D = BigGANDiscriminator(16, 3, 10, ch=4, attn_res=None, head="classifier")
    assert D.head.classifier.bias is not None


def test_cifar10_reacgan_head_matches_studiogans_layout():
    D = narrow_preset_d("cifar10-reacgan")
    f = D.head.linear.in_features
    assert D.head.linear.bias is not None and D.head.project.bias is not None  # linear1, linear2 with biases
    assert n_params(D.head) == (f + 1) + (f * 512 + 512) + 10 * 512            # + bias-free class embedding


def test_classifier_bias_only_with_the_classifier_head():
    with pytest.raises(ConfigError, match="D.classifier_bias"):
        condgan.load_config("digits", ["D.classifier_bias=false"])
