"""Evaluation metrics: feature extractors and metric formulas (pure functions of features)."""
