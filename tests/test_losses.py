import pytest
import torch

from condgan.losses import (hinge_d, hinge_g, nonsaturating_d, nonsaturating_g, orthogonal_penalty,
                            orthogonal_regularisation)


def test_hinge_on_hand_made_logits():
    real = torch.tensor([2.0, 0.5, -1.0])   # relu(1 - r) = 0, 0.5, 2 -> mean 2.5/3
    fake = torch.tensor([-2.0, 0.0, 1.0])   # relu(1 + f) = 0, 1, 2 -> mean 1
    assert hinge_d(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert hinge_g(fake).item() == pytest.approx(1.0 / 3 * -(-2.0 + 0.0 + 1.0))


def test_hinge_is_zero_beyond_the_margin():
    assert hinge_d(torch.full((4,), 3.0), torch.full((4,), -3.0)).item() == 0.0


def test_nonsaturating_on_hand_made_logits():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0])
    assert nonsaturating_d(real, fake).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())
    assert nonsaturating_g(torch.tensor([100.0])).item() == pytest.approx(0.0, abs=1e-6)


def test_orthogonal_penalty_on_a_known_matrix():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # W W^T = [[5, 11], [11, 25]] -> off-diagonal 11, 11
    assert orthogonal_penalty(w).item() == pytest.approx(2 * 11.0 ** 2)
    assert orthogonal_penalty(torch.eye(3) * 5.0).item() == 0.0  # orthogonal rows, any norm: no penalty
    conv = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(2, 1, 1, 2)  # conv weights are flattened per filter
    assert orthogonal_penalty(conv).item() == pytest.approx(242.0)


def test_orthogonal_regularisation_gradient_matches_biggan_pytorch():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 4, bias=True)
    beta = 1e-2
    orthogonal_regularisation(lin, beta).backward()
    w = lin.weight.detach()
    expected = beta * 2 * ((w @ w.t()) * (1 - torch.eye(4))) @ w  # the official code's gradient
    assert torch.allclose(lin.weight.grad, expected, atol=1e-7)
    assert lin.bias.grad is None  # 1-D parameters are not regularised


def test_orthogonal_regularisation_skips_modules():
    emb, lin = torch.nn.Embedding(3, 4), torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(emb, lin)
    assert orthogonal_regularisation(model, 1.0, skip=(emb,)).item() == pytest.approx(
        0.5 * orthogonal_penalty(lin.weight).item())
