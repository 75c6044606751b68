import pytest
import torch
from torch.nn.utils.parametrize import is_parametrized

from condgan.config import load_config
from condgan.models import build_networks
from condgan.models.biggan import Discriminator, Generator
from condgan.models.layers import ConditionalBatchNorm2d, SelfAttention


@pytest.mark.parametrize("res,chunks", [(16, 3), (32, 4), (64, 5), (128, 6)])
def test_output_shapes_per_resolution(res, chunks):
    G = Generator(res, 3, num_classes=5, ch=1, z_dim=4 * chunks, shared_dim=4, attn_res=res // 2)
    D = Discriminator(res, 3, num_classes=5, ch=1, attn_res=res // 2)
    assert G.num_chunks == chunks  # one latent chunk per block plus the input
    z, y = torch.randn(3, G.z_dim), torch.tensor([0, 2, 4])
    x = G(z, y)
    assert x.shape == (3, 3, res, res)
    assert x.abs().max() <= 1.0  # tanh output
    out = D(x, y)
    assert out["adv"].shape == (3,)
    assert any(isinstance(m, SelfAttention) for m in G.modules())
    assert any(isinstance(m, SelfAttention) for m in D.modules())


def test_unsupported_resolution_names_it():
    with pytest.raises(ValueError, match="48 px"):
        Generator(48, 3, 10)


def test_z_dim_must_split_into_chunks():
    with pytest.raises(ValueError, match="z_dim=10"):
        Generator(32, 3, 10, z_dim=10)


def test_spectral_norm_largest_singular_value_is_one():
    torch.manual_seed(0)
    D = Discriminator(32, 3, 10, ch=4, init="normal")  # orthogonal init would start at sigma = 1
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(is_parametrized(m, "weight") for m in convs)
    D.train()
    for _ in range(30):  # power iteration converges over forward passes
        D(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    for m in convs:
        w = m.weight.detach().flatten(1)
        sigma = torch.linalg.matrix_norm(w, ord=2)
        assert sigma == pytest.approx(1.0, abs=2e-2)
        raw = m.parametrizations.weight.original.detach().flatten(1)
        assert torch.linalg.matrix_norm(raw, ord=2) != pytest.approx(1.0, abs=2e-2)  # the raw weight is not


def test_shared_embedding_is_not_spectrally_normalised_but_cbn_linears_are():
    G = Generator(32, 3, 10, ch=2, z_dim=20, shared_dim=8)
    assert not is_parametrized(G.shared)
    cbn = next(m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d))
    assert is_parametrized(cbn.gain, "weight") and is_parametrized(cbn.bias, "weight")


def test_hierarchical_latent_each_block_sees_its_own_chunk():
    torch.manual_seed(0)
    G = Generator(32, 3, 10, ch=2, z_dim=20, shared_dim=8).eval()
    z, y = torch.randn(2, 20), torch.tensor([1, 1])
    base = G(z, y)
    for chunk in range(4):  # changing any one chunk changes the image
        z2 = z.clone()
        z2[:, chunk * 5:(chunk + 1) * 5] += 1.0
        assert not torch.allclose(G(z2, y), base)


def test_conditional_bn_gain_is_one_centred_and_bias_zero_centred():
    cbn = ConditionalBatchNorm2d(4, cond_dim=3).eval()
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(cbn(x, torch.zeros(2, 3)), cbn.bn(x))  # zero condition -> plain BN


def test_self_attention_is_identity_at_init():
    attn = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(attn(x), x)
    attn.gamma.data.fill_(1.0)
    assert not torch.allclose(attn(x), x)


def test_orthogonal_init():
    torch.manual_seed(0)
    G = Generator(32, 3, 10, ch=2, z_dim=20, shared_dim=8, spectral_norm=False)
    w = G.blocks[0][0].conv1.weight.flatten(1)  # (8, 72): rows orthonormal
    assert torch.allclose(w @ w.t(), torch.eye(w.shape[0]), atol=1e-5)


def test_projection_head_uses_the_label():
    torch.manual_seed(0)
    D = Discriminator(32, 3, 10, ch=2).eval()
    x = torch.randn(1, 3, 32, 32)
    assert D(x, torch.tensor([0]))["adv"] != D(x, torch.tensor([1]))["adv"]


def test_build_networks_from_presets():
    cfg = load_config("cifar10-biggan")
    G, D = build_networks(cfg, 10, 32, 3)
    assert G.blocks[0][0].conv1.out_channels == 384 and G.num_chunks == 4 and G.chunk == 20
    assert D.blocks[0].conv1.out_channels == 192
    # attention after G's 2nd block and after D's 1st block
    assert [len(b) for b in G.blocks] == [1, 2, 1]
    assert isinstance(D.blocks[1], SelfAttention)
