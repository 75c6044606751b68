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


def false_negative_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, B) bool, True where sample j is a valid negative for anchor i, i.e. y_j != y_i.

    Same-class pairs would be "false negatives" (pushing apart images that should agree); the diagonal is
    excluded by the same rule since y_i == y_i.
    """
    return labels[:, None] != labels[None, :]


def d2d_ce_from_similarities(pos_sim: torch.Tensor, sim: torch.Tensor, labels: torch.Tensor,
                             temperature: float, m_p: float, m_n: float | None = None,
                             easy_suppression: bool = True, key_labels: torch.Tensor | None = None
                             ) -> torch.Tensor:
    """D2D-CE given cosines: `pos_sim` (B,) = cos(f_i, v_{y_i}), `sim` (B, K) = cos(f_i, f_j) against K
    candidate negatives labelled `key_labels` (default: the batch itself, K = B).

    Split out of `d2d_ce` so the mining behaviour can be checked on the similarities themselves, where it
    is defined, rather than through the normalisation's Jacobian.
    """
    m_n = 1.0 - m_p if m_n is None else m_n
    pos_sim, sim = pos_sim.float(), sim.float()
    if easy_suppression:
        # relu (not clamp) so that exactly at the margin the term is constant too: no gradient on the boundary
        pos = -F.relu(m_p - pos_sim) / temperature   # min(cos - m_p, 0) / tau: easy positives are flat
        neg = F.relu(sim - m_n) / temperature        # max(cos - m_n, 0) / tau: easy negatives are flat
    else:
        pos, neg = pos_sim / temperature, sim / temperature
    key_labels = labels if key_labels is None else key_labels
    neg = neg.masked_fill(labels[:, None] == key_labels[None, :], float("-inf"))  # false negatives + self
    logits = torch.cat([pos[:, None], neg], dim=1)  # the positive is always finite, so no row is all -inf
    return (torch.logsumexp(logits, dim=1) - pos).mean()


def d2d_ce(embed: torch.Tensor, proxy: torch.Tensor, labels: torch.Tensor, temperature: float,
           m_p: float, m_n: float | None = None, easy_suppression: bool = True,
           keys: torch.Tensor | None = None, key_labels: torch.Tensor | None = None) -> torch.Tensor:
    """ReACGAN's Data-to-Data Cross-Entropy (Kang et al. 2021).

    `embed` (B, d): D's projected features; `proxy` (B, d): each sample's class proxy (both unnormalised).
    Per sample: a = min(cos(f_i, v_{y_i}) - m_p, 0)/tau, b_ij = max(cos(f_i, f_j) - m_n, 0)/tau over
    negatives j (y_j != y_i), and L_i = -a + logsumexp({a} U {b_ij}). The margins stop pulling positives that
    are already close and pushing negatives that are already far, so gradients go to hard samples, and
    the softmax weights hard negatives by how similar they are. m_n defaults to 1 - m_p.
    easy_suppression=False drops both margins (the paper's ablation).
    `keys`/`key_labels`: the embeddings negatives are drawn from, when they are more than this batch (the
    global batch of a distributed run, which contains `embed`); default `embed`/`labels`.
    """
    f = F.normalize(embed.float(), dim=1)
    v = F.normalize(proxy.float(), dim=1)
    k = f if keys is None else F.normalize(keys.float(), dim=1)
    return d2d_ce_from_similarities((f * v).sum(dim=1), f @ k.t(), labels, temperature, m_p, m_n,
                                    easy_suppression, key_labels)
