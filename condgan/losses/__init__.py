"""Losses: pure functions of network outputs or weights; they know nothing of the training loop. `registry`
names them for the config, with the properties the training step needs."""
from .adversarial import hinge_d, hinge_g, nonsaturating_d, nonsaturating_g
from .registry import (ADVERSARIAL, CONDITIONING, AdversarialLoss, CondContext, ConditioningLoss,
                       register_adversarial, register_conditioning)
from .regularisers import orthogonal_penalty, orthogonal_regularisation

__all__ = ["ADVERSARIAL", "CONDITIONING", "AdversarialLoss", "CondContext", "ConditioningLoss",
           "register_adversarial", "register_conditioning", "hinge_d", "hinge_g", "nonsaturating_d",
           "nonsaturating_g", "orthogonal_penalty", "orthogonal_regularisation"]
