"""Does the generator honour the class it is asked for?

Trains a logistic-regression classifier on the real training images only, then classifies 1,000
class-balanced generated samples and prints the fraction assigned to their conditioned class.

    python scripts/check_conditioning.py runs/digits [--n 1000]
"""
from __future__ import annotations

import argparse
import sys

from condgan.metrics.conditioning import conditioning_accuracy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder or checkpoint")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    acc, held_out = conditioning_accuracy(args.run, args.n)
    print(f"classifier held-out accuracy on real images: {held_out:.3f}")
    print(f"generated samples classified as their conditioned class: {acc:.3f} ({args.n} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
