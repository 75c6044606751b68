"""Evaluation metrics: feature extractors, metric formulas (pure functions of features) and the registry that
declares each metric once (registry.py: its keys, which way each is better, what it needs)."""
