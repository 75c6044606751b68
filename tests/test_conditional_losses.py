import math

import pytest
import torch
import torch.nn.functional as F

from condgan.losses.conditional import (classifier_ce, d2d_ce, d2d_ce_from_similarities, false_negative_mask,
                                        proxy_nce)


def d2d_ce_loop(embed, proxy, labels, tau, m_p, m_n, easy_suppression=True):
    """The formula, one sample and one pair at a time, in float64 Python arithmetic."""
    f, v = F.normalize(embed.double(), dim=1), F.normalize(proxy.double(), dim=1)
    total = 0.0
    for i in range(len(labels)):
        cos_pos = float(f[i] @ v[i])
        a = (min(cos_pos - m_p, 0.0) if easy_suppression else cos_pos) / tau
        terms = [a]
        for j in range(len(labels)):
            if labels[j] != labels[i]:
                cos_ij = float(f[i] @ f[j])
                terms.append((max(cos_ij - m_n, 0.0) if easy_suppression else cos_ij) / tau)
        top = max(terms)
        total += -a + top + math.log(sum(math.exp(t - top) for t in terms))
    return total / len(labels)


def random_batch(seed, b=8, d=5, classes=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, generator=g), torch.randn(b, d, generator=g),
            torch.randint(0, classes, (b,), generator=g))


@pytest.mark.parametrize("seed,tau,m_p,m_n", [(0, 0.5, 0.98, None), (1, 0.1, 0.5, 0.2), (2, 1.0, 0.3, -0.2),
                                              (3, 0.05, 0.9, 0.05)])
@pytest.mark.parametrize("easy_suppression", [True, False])
def test_vectorised_d2d_ce_equals_a_per_sample_loop(seed, tau, m_p, m_n, easy_suppression):
    embed, proxy, labels = random_batch(seed)
    expected = d2d_ce_loop(embed, proxy, labels, tau, m_p, 1 - m_p if m_n is None else m_n, easy_suppression)
    got = d2d_ce(embed, proxy, labels, tau, m_p, m_n, easy_suppression=easy_suppression)
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_margins_matter_and_m_n_defaults_to_one_minus_m_p():
    embed, proxy, labels = random_batch(4)
    default = d2d_ce(embed, proxy, labels, 0.5, m_p=0.7)
    assert default.item() == pytest.approx(d2d_ce(embed, proxy, labels, 0.5, m_p=0.7, m_n=0.3).item())
    assert default.item() != pytest.approx(d2d_ce(embed, proxy, labels, 0.5, 0.7, easy_suppression=False).item())


def test_false_negative_mask_keeps_exactly_the_other_class_pairs():
    mask = false_negative_mask(torch.tensor([0, 1, 0, 2]))
    expected = torch.tensor([[0, 1, 0, 1],
                             [1, 0, 1, 1],
                             [0, 1, 0, 1],
                             [1, 1, 1, 0]], dtype=torch.bool)
    assert mask.dtype == torch.bool and torch.equal(mask, expected)
    assert not mask.diagonal().any()


def test_hard_negatives_get_gradient_in_proportion_to_their_similarity():
    tau, m_p = 0.5, 0.7  # m_n = 0.3
    sim = torch.zeros(4, 4)
    sim[0, 1], sim[0, 2], sim[0, 3] = 0.9, 0.6, 0.1  # hard, less hard, easy (<= m_n) negatives of sample 0
    sim = (sim + sim.t()).fill_diagonal_(1.0).requires_grad_()
    pos = torch.ones(4)  # all positives easy
    d2d_ce_from_similarities(pos, sim, torch.arange(4), tau, m_p).backward()
    g = sim.grad[0]
    assert g[1] > g[2] > 0  # the more similar negative is pushed away harder
    assert g[3] == 0  # easy negative: no gradient at all
    # the weights are the softmax over {a_0} U {b_0j}, divided by tau and by the batch mean
    logits = torch.tensor([0.0, 0.6 / tau, 0.3 / tau, 0.0])
    weights = torch.softmax(logits, dim=0)[1:3] / (tau * 4)
    assert torch.allclose(g[1:3], weights, rtol=1e-5)


def test_negative_on_the_margin_or_below_gives_no_gradient():
    sim = torch.tensor([[1.0, 0.3, -0.5], [0.3, 1.0, 0.2], [-0.5, 0.2, 1.0]], requires_grad=True)
    pos = torch.tensor([0.2, 0.1, 0.0], requires_grad=True)  # hard positives, so something does flow
    d2d_ce_from_similarities(pos, sim, torch.arange(3), 0.2, m_p=0.7).backward()  # m_n = 0.3
    assert (sim.grad == 0).all()  # 0.3 sits on the margin; the rest are below it
    assert (pos.grad != 0).all()


def test_easy_positive_contributes_no_gradient():
    embed, _, labels = random_batch(5)
    proxy = embed.clone().requires_grad_()  # cos(f_i, v_i) = 1 >= m_p
    d2d_ce(embed, proxy, labels, 0.5, m_p=0.98).backward()
    assert (proxy.grad == 0).all()
    proxy_hard = (embed + torch.randn_like(embed)).requires_grad_()  # control: a hard positive is pulled
    d2d_ce(embed, proxy_hard, labels, 0.5, m_p=0.98).backward()
    assert proxy_hard.grad.abs().sum() > 0
    pos = torch.tensor([0.7, 0.9], requires_grad=True)  # exactly on the margin counts as easy too
    d2d_ce_from_similarities(pos, torch.eye(2), torch.tensor([0, 1]), 0.5, m_p=0.7).backward()
    assert (pos.grad == 0).all()


def test_global_minimum_is_mean_log_one_plus_number_of_negatives():
    labels = torch.tensor([0, 0, 1, 2])  # |N(i)| = 2, 2, 3, 3
    embed = (3.0 * torch.eye(4)).requires_grad_()  # orthogonal: every negative cos 0 <= m_n
    proxy = embed.detach().clone().requires_grad_()  # every positive cos 1 >= m_p
    loss = d2d_ce(embed, proxy, labels, 0.1, m_p=0.98)
    minimum = (2 * math.log(3) + 2 * math.log(4)) / 4
    assert loss.item() == pytest.approx(minimum, rel=1e-6)
    loss.backward()
    assert (embed.grad == 0).all() and (proxy.grad == 0).all()
    for seed in range(5):  # and it is a lower bound
        embed_r, proxy_r, _ = random_batch(seed, b=4, d=4)
        assert d2d_ce(embed_r, proxy_r, labels, 0.1, m_p=0.98).item() >= minimum - 1e-6


def test_d2d_ce_is_stable_and_float32_for_extreme_inputs():
    embed, proxy, labels = random_batch(6)
    loss = d2d_ce(embed.bfloat16(), proxy.bfloat16(), labels, 1e-3, m_p=0.1)  # logits up to ~900
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    one_class = torch.zeros(8, dtype=torch.long)  # no negatives at all: L_i = -a + a = 0
    assert d2d_ce(embed, proxy, one_class, 0.5, m_p=0.98).item() == 0.0


def test_proxy_nce_is_cross_entropy_on_cosines_over_temperature():
    embed, _, labels = random_batch(7)
    proxies = torch.randn(3, 5)
    logits = F.cosine_similarity(embed[:, None], proxies[None], dim=2) / 0.25
    assert proxy_nce(embed, proxies, labels, 0.25).item() == pytest.approx(
        F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert proxy_nce(embed.half(), proxies.half(), labels, 0.25).dtype == torch.float32


def test_classifier_ce_is_softmax_cross_entropy_in_float32():
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    assert classifier_ce(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())
    assert classifier_ce(logits.bfloat16(), labels).dtype == torch.float32
