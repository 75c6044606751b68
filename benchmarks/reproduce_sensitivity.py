"""Which real changes does `--reproduce`'s cross-CPU criterion catch? Retrain the digits experiment's
fingerprint (its first steps) under small changes of the training arithmetic and compare each with the
committed fingerprint and its measured rounding tolerance (benchmarks/reproduce.py).

    python -m benchmarks.reproduce_sensitivity [--seed 0]

Prints one row per change: the per-step difference (fraction of each loss's scale) and whether the
cross-CPU path would report "NOT reproduced". The rounding envelope the tolerance comes from is in the
JSON's fingerprint ("perturbations").
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys

import torch.nn.functional as F

from benchmarks import common
from benchmarks.reproduce import fingerprint_curves, step_differences
from condgan.losses import registry


def hinge(margin: float) -> registry.AdversarialLoss:
    return registry.AdversarialLoss(lambda r, f: F.relu(margin - r).mean() + F.relu(margin + f).mean(),
                                    registry.ADVERSARIAL["hinge"].g)


CHANGES = {  # name -> (config keys scaled by a factor in every arm, hinge margin)
    "none (this checkout)": ({}, 1.0),
    "hinge margin 1 -> 0.9": ({}, 0.9),
    "hinge margin 1 -> 0.99": ({}, 0.99),
    "G learning rate +10%": ({"optim.g_lr": 1.1}, 1.0),
    "D learning rate +10%": ({"optim.d_lr": 1.1}, 1.0),
    "G BatchNorm eps x2": ({"G.bn_eps": 2.0}, 1.0),
}


def scaled_arms(exp, ctx, factors: dict[str, float]) -> list:
    """The experiment's arms with each key of `factors` multiplied, from each arm's own resolved value."""
    from benchmarks.common import arm_config
    from condgan.config import flat_config
    out = []
    for arm in exp.ARMS:
        values = flat_config(arm_config(ctx, arm).to_dict())
        out.append(dataclasses.replace(arm, overrides={**arm.overrides,
                                                       **{k: values[k] * f for k, f in factors.items()}}))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    exp = importlib.import_module("benchmarks.digits_conditioning")
    ctx = common.make_context(exp, common.parse_args(exp, ["--seed", str(args.seed)]))
    result = json.loads((common.RESULTS / common.result_name(exp.NAME, "cpu", args.seed)).read_text())
    fp = result["fingerprint"]
    arms, original = list(exp.ARMS), registry.ADVERSARIAL["hinge"]
    print(f"tolerance per step (10 x the rounding envelope): {' '.join(f'{t:.2g}' for t in fp['tolerance'])}")
    print("| change | difference at steps 1, 2, 3 (fraction of a loss's scale) | caught across CPUs |")
    print("|---|---|---|")
    for name, (factors, margin) in CHANGES.items():
        exp.ARMS = scaled_arms(exp, ctx, factors)
        registry.ADVERSARIAL["hinge"] = hinge(margin) if margin != 1.0 else original
        try:
            diff = step_differences(fp["curves"], fingerprint_curves(exp, ctx, fp["steps"]))
        finally:
            registry.ADVERSARIAL["hinge"], exp.ARMS = original, arms
        caught = any(d > t for d, t in zip(diff, fp["tolerance"]))
        print(f"| {name} | {', '.join(f'{d:.2g}' for d in diff)} | {'yes' if caught else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
