"""Augmentations seen by D: DiffAugment and CR's flip-and-shift (differentiable), and ADA's adaptive p."""
from .ada import AdaptiveAugment
from .diffaug import POLICIES, cr_augment, diff_augment

__all__ = ["POLICIES", "AdaptiveAugment", "cr_augment", "diff_augment"]
