"""Experiments that reproduce the papers' claims with condgan: one module per claim, run as
`python -m benchmarks.NAME` (see benchmarks/README.md)."""
