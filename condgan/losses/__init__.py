"""Losses: pure functions of network outputs or weights; they know nothing of the training loop."""
from .adversarial import ADVERSARIAL, hinge_d, hinge_g, nonsaturating_d, nonsaturating_g
from .regularisers import orthogonal_penalty, orthogonal_regularisation

__all__ = ["ADVERSARIAL", "hinge_d", "hinge_g", "nonsaturating_d", "nonsaturating_g",
           "orthogonal_penalty", "orthogonal_regularisation"]
