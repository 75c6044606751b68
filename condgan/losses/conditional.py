"""Class-conditioning losses: pure functions of D's class outputs (logits, embeddings, class proxies).

All of them compute in float32 whatever the input dtype: cosine similarities divided by a small temperature
and softmax cross-entropies lose too much precision in bf16/fp16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def classifier_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ACGAN's auxiliary-classifier loss (Odena et al. 2017): softmax cross-entropy of D's class logits."""
    return F.cross_entropy(logits.float(), labels)


def proxy_nce(embed: torch.Tensor, proxies_all: torch.Tensor, labels: torch.Tensor,
              temperature: float) -> torch.Tensor:
    """Normalised softmax cross-entropy to every class proxy (ReACGAN's "proxy-only" ablation).

    Logits are cos(f_i, v_c) / temperature for all C classes, so only data-to-class relations are used;
    D2D-CE adds the data-to-data ones.
    """
    f = F.normalize(embed.float(), dim=1)
    v = F.normalize(proxies_all.float(), dim=1)
    return F.cross_entropy(f @ v.t() / temperature, labels)


D2DCE_FORMS = ("paper", "studiogan")


def false_negative_mask(labels: torch.Tensor, key_labels: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K) bool, True where key j is a valid negative for anchor i, i.e. y_j != y_i.

    Same-class pairs would be "false negatives" (pushing apart images that should agree); an anchor's own
    row among the keys is excluded by the same rule since y_i == y_i. `key_labels` default: `labels`.
    """
    key_labels = labels if key_labels is None else key_labels
    return labels[:, None] != key_labels[None, :]


def d2d_ce_from_similarities(pos_sim: torch.Tensor, sim: torch.Tensor, labels: torch.Tensor,
                             temperature: float, m_p: float, m_n: float | None = None,
                             easy_suppression: bool = True, key_labels: torch.Tensor | None = None,
                             form: str = "paper", self_index: torch.Tensor | None = None) -> torch.Tensor:
    """D2D-CE given cosines: `pos_sim` (B,) = cos(f_i, v_{y_i}), `sim` (B, K) = cos(f_i, f_j) against K
    candidate negatives labelled `key_labels` (default: the batch itself, K = B).

    Split out of `d2d_ce` so the mining behaviour can be checked on the similarities themselves, where it
    is defined, rather than through the normalisation's Jacobian.

    form="paper": L_i = -a_i + log(e^{a_i} + sum_{j in N(i)} e^{b_ij}), the paper's Eq. 6.
    form="studiogan": StudioGAN's `Data2DataCrossEntropyLoss` (src/utils/losses.py), which shifts only the
    negatives by M_i = max_{j != i} (cos_ij - m_n)/tau (a detached maximum over every other sample, same class
    included) and leaves the positive unshifted: L_i = -a_i + log(e^{a_i} + e^{-M_i} sum_{j in N(i)} e^{b_ij}).
    `self_index` (B,): each anchor's own column in `sim`, excluded from M_i (default: column i).
    """
    if form not in D2DCE_FORMS:
        raise ValueError(f"Unknown D2D-CE form '{form}'; valid: {', '.join(D2DCE_FORMS)}.")
    m_n = 1.0 - m_p if m_n is None else m_n
    pos_sim, sim = pos_sim.float(), sim.float()
    if easy_suppression:
        # relu (not clamp) so that exactly at the margin the term is constant too: no gradient on the boundary
        pos = -F.relu(m_p - pos_sim) / temperature   # min(cos - m_p, 0) / tau: easy positives are flat
        neg = F.relu(sim - m_n) / temperature        # max(cos - m_n, 0) / tau: easy negatives are flat
    else:
        pos, neg = pos_sim / temperature, sim / temperature
    if form == "studiogan":
        rows = torch.arange(len(sim), device=sim.device)
        cols = rows if self_index is None else self_index
        others = ((sim - m_n) / temperature).index_put((rows, cols), torch.tensor(float("-inf"), device=sim.device))
        shift = others.max(dim=1).values.detach()
        neg = neg - torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))[:, None]
    neg = neg.masked_fill(~false_negative_mask(labels, key_labels), float("-inf"))  # false negatives + self
    logits = torch.cat([pos[:, None], neg], dim=1)  # the positive is always finite, so no row is all -inf
    return (torch.logsumexp(logits, dim=1) - pos).mean()


def d2d_ce(embed: torch.Tensor, proxy: torch.Tensor, labels: torch.Tensor, temperature: float,
           m_p: float, m_n: float | None = None, easy_suppression: bool = True,
           keys: torch.Tensor | None = None, key_labels: torch.Tensor | None = None,
           form: str = "paper", self_index: torch.Tensor | None = None) -> torch.Tensor:
    """ReACGAN's Data-to-Data Cross-Entropy (Kang et al. 2021).

    `embed` (B, d): D's projected features; `proxy` (B, d): each sample's class proxy (both unnormalised).
    Per sample: a = min(cos(f_i, v_{y_i}) - m_p, 0)/tau, b_ij = max(cos(f_i, f_j) - m_n, 0)/tau over
    negatives j (y_j != y_i), and L_i = -a + logsumexp({a} U {b_ij}). The margins stop pulling positives that
    are already close and pushing negatives that are already far, so gradients go to hard samples, and
    the softmax weights hard negatives by how similar they are. m_n defaults to 1 - m_p.
    easy_suppression=False drops both margins (the paper's ablation). `form`: "paper" (Eq. 6) or
    "studiogan" (the official code's variant; see `d2d_ce_from_similarities`).
    `keys`/`key_labels`: the embeddings negatives are drawn from, when they are more than this batch (the
    global batch of a distributed run, which contains `embed` at rows `self_index`); default `embed`/`labels`.
    """
    f = F.normalize(embed.float(), dim=1)
    v = F.normalize(proxy.float(), dim=1)
    k = f if keys is None else F.normalize(keys.float(), dim=1)
    return d2d_ce_from_similarities((f * v).sum(dim=1), f @ k.t(), labels, temperature, m_p, m_n,
                                    easy_suppression, key_labels, form, self_index)
