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


# ---------------------------------------------------------------------------------------------------------
# StudioGAN's form of D2D-CE (loss.d2dce_form=studiogan), re-derived from the official code's arithmetic
# (PyTorch-StudioGAN, src/utils/losses.py, Data2DataCrossEntropyLoss.forward), in float64, one anchor at a
# time: s_ij = (cos(f_i, f_j) + m_p - 1)/tau over j != i; M_i = max_j s_ij (detached; every other sample,
# same class included); the negatives contribute exp(relu(s_ij) - M_i) for y_j != y_i; the positive term is
# p_i = relu((m_p - cos(f_i, v_i))/tau), unshifted; L_i = p_i + log(exp(-p_i) + sum of the negatives').

def studiogan_d2d_ce_reference(embed, proxy, labels, tau, m_p, anchors=None):
    f, v = F.normalize(embed, dim=1), F.normalize(proxy, dim=1)
    losses = []
    for i in range(len(labels)) if anchors is None else anchors:
        others = [j for j in range(len(labels)) if j != i]
        s = torch.stack([(f[i] @ f[j] + m_p - 1) / tau for j in others])
        top = s.max().detach()
        negatives = [torch.exp(torch.relu(s[k]) - top) for k, j in enumerate(others) if labels[j] != labels[i]]
        p = torch.relu((m_p - f[i] @ v[i]) / tau)
        losses.append(p + torch.log(torch.exp(-p) + sum(negatives, torch.zeros((), dtype=f.dtype))))
    return torch.stack(losses).mean()


def clustered_batch(seed, b=32, d=16, classes=4, spread=0.3):
    """Embeddings that look trained: each class clustered around its proxy, proxies apart."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g)
    labels = torch.arange(b) % classes
    embed = centres[labels] + spread * torch.randn(b, d, generator=g)
    proxy = centres[labels] + 0.1 * torch.randn(b, d, generator=g)
    return embed, proxy, labels


@pytest.mark.parametrize("batch", ["random", "clustered"])
@pytest.mark.parametrize("tau,m_p", [(0.5, 0.98), (0.25, 0.95), (0.75, 1.0)])
def test_studiogan_form_equals_the_official_arithmetic_in_value_and_gradient(batch, tau, m_p):
    embed, proxy, labels = random_batch(11, b=10, d=6) if batch == "random" else clustered_batch(12)
    e64, p64 = embed.double().requires_grad_(), proxy.double().requires_grad_()
    expected = studiogan_d2d_ce_reference(e64, p64, labels, tau, m_p)
    expected.backward()
    e32, p32 = embed.clone().requires_grad_(), proxy.clone().requires_grad_()
    got = d2d_ce(e32, p32, labels, tau, m_p, form="studiogan")
    got.backward()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    for ours, ref in ((e32.grad, e64.grad), (p32.grad, p64.grad)):
        assert torch.allclose(ours.double(), ref, rtol=1e-4, atol=1e-7)


def test_studiogan_form_differs_from_the_paper_on_trained_like_embeddings():
    embed, proxy, labels = clustered_batch(13)
    paper = d2d_ce(embed, proxy, labels, 0.5, 0.98)
    studiogan = d2d_ce(embed, proxy, labels, 0.5, 0.98, form="studiogan")
    assert studiogan.item() < 0.75 * paper.item()  # the e^{-M_i} factor shrinks the negatives' weight


def test_studiogan_form_keeps_mining_and_suppression_but_loses_the_minimum():
    # Properties 1-3 survive (M_i is detached), Property 4 does not: at the paper's optimum the loss is
    # log(1 + e^{-M_i}|N(i)|), which depends on the batch's closest pair instead of mean log(1 + |N(i)|).
    labels = torch.tensor([0, 0, 1, 2])
    embed = (3.0 * torch.eye(4)).requires_grad_()
    proxy = embed.detach().clone().requires_grad_()
    loss = d2d_ce(embed, proxy, labels, 0.1, m_p=0.98, form="studiogan")
    loss.backward()
    assert (embed.grad == 0).all() and (proxy.grad == 0).all()      # easy positives / negatives: flat
    paper_minimum = (2 * math.log(3) + 2 * math.log(4)) / 4
    shift = math.exp(0.02 / 0.1)                                     # M_i = (0 - m_n)/tau = -0.2
    assert loss.item() == pytest.approx((2 * math.log(1 + 2 * shift) + 2 * math.log(1 + 3 * shift)) / 4, rel=1e-6)
    assert loss.item() != pytest.approx(paper_minimum, rel=1e-3)
    sim = torch.zeros(4, 4)                                          # Property 1: harder negative, larger push
    sim[0, 1], sim[0, 2], sim[0, 3] = 0.9, 0.6, 0.1
    sim = (sim + sim.t()).fill_diagonal_(1.0).requires_grad_()
    d2d_ce_from_similarities(torch.ones(4), sim, torch.arange(4), 0.5, 0.7, form="studiogan").backward()
    assert sim.grad[0, 1] > sim.grad[0, 2] > 0 and sim.grad[0, 3] == 0


def test_studiogan_form_excludes_the_anchor_itself_from_the_max_among_gathered_keys():
    # a distributed run's keys are the global batch; the anchor's own row sits at self_index, not at i
    embed, proxy, labels = random_batch(14, b=6)
    other, _, other_labels = random_batch(15, b=6)
    keys, key_labels = torch.cat([other, embed]), torch.cat([other_labels, labels])
    got = d2d_ce(embed, proxy, labels, 0.5, 0.9, keys=keys, key_labels=key_labels, form="studiogan",
                 self_index=torch.arange(6, 12))
    e64, p64 = keys.double(), torch.cat([torch.zeros_like(proxy), proxy]).double()
    expected = studiogan_d2d_ce_reference(e64, p64, key_labels, 0.5, 0.9, anchors=range(6, 12))
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    naive = d2d_ce(embed, proxy, labels, 0.5, 0.9, keys=keys, key_labels=key_labels, form="studiogan")
    assert naive.item() != pytest.approx(expected.item(), rel=1e-5)  # columns 0..5 are not the anchors


def test_false_negative_mask_against_gathered_keys_is_the_mask_the_loss_uses():
    labels, key_labels = torch.tensor([0, 1]), torch.tensor([1, 0, 0, 1])
    assert torch.equal(false_negative_mask(labels, key_labels),
                       torch.tensor([[True, False, False, True], [False, True, True, False]]))
    embed, proxy, _ = random_batch(16, b=2)
    keys, same = torch.cat([embed, -embed]), torch.tensor([0, 0])
    only_same = d2d_ce(embed, proxy, same, 0.5, 0.98, keys=keys, key_labels=torch.tensor([0, 0, 0, 0]))
    with_negatives = d2d_ce(embed, proxy, same, 0.5, 0.98, keys=keys, key_labels=torch.tensor([0, 0, 1, 1]))
    assert only_same.item() == 0.0 and with_negatives.item() > 0  # masked keys add nothing; the others do
