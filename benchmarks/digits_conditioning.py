"""The digits main job with each method's conditioning parts: does G honour the class it is asked for?

The embedded digits at 16 px, the `digits` preset's network, rates and 1,000 steps for every arm; only the
conditioning parts differ. Conditioning accuracy = the fraction of 1,000 class-balanced samples of the EMA
generator that a logistic-regression classifier, trained on the real digits' pixels, assigns to their
conditioned class (`condgan.metrics.conditioning`, also `scripts/check_conditioning.py`).

It answers a fidelity question: ReACGAN's parts conditioned worse than ACGAN's on this job (79.8% against
95.7% in an earlier measurement). The ReACGAN arms separate the loss's form (the paper's D2D-CE or
StudioGAN's), its weight (1 or the CIFAR presets' 0.5) and the preset's learning rates.

    python -m benchmarks.digits_conditioning [--seed S] [--smoke] [--dry-run]
"""
from __future__ import annotations

import sys

from benchmarks.common import Arm, checkpoints, main, save_figure

NAME = "digits_conditioning"
TITLE = "Digits main job: conditioning accuracy of each method's conditioning parts"
DEFAULT_DATA = "digits"

_REACGAN = {"D.head": "embedding", "loss.cond": "d2dce"}   # embedding 512-d, tau 0.5, m_p 0.98 (defaults)
ARMS = [
    Arm("projection (the main job)", {}),
    Arm("ACGAN: CE, weight 1", {"D.head": "classifier", "loss.cond": "ce"}),
    Arm("ReACGAN: D2D-CE paper form, weight 1", dict(_REACGAN)),
    Arm("ReACGAN: D2D-CE StudioGAN form, weight 1", {**_REACGAN, "loss.d2dce_form": "studiogan"}),
    Arm("ReACGAN: D2D-CE paper form, weight 0.5", {**_REACGAN, "loss.cond_lambda": 0.5}),
    Arm("ReACGAN: D2D-CE paper form, weight 1, Adam 2e-4 both", {**_REACGAN, "optim.g_lr": 2e-4,
                                                                 "optim.d_lr": 2e-4}),
]

SCALES = {
    "cpu": {"preset": "digits",
            "overrides": {"train.steps": 1000, "train.device": "cpu", "train.threads": 2, "train.keep_ckpts": 1},
            "eval": {"samples": 1000}},
    "gpu": {"preset": "digits", "overrides": {"train.steps": 1000, "train.keep_ckpts": 1},
            "eval": {"samples": 1000}},
    "smoke": {"overrides": {"G.ch": 2, "D.ch": 2, "train.steps": 4, "train.log_every": 2, "train.grid_every": 4,
                            "train.ckpt_every": 4, "train.ema_start": 1, "train.standing_stats": 1},
              "eval": {"samples": 100}},
}
CURVE_KEYS = ["D/loss", "G/loss", "D/cond", "G/cond"]
# the main README's digest (benchmarks.common.render_summary): column title -> its short label
HEADLINE = {"conditioning accuracy": "conditioning accuracy"}
# the run-to-run spread over seeds (benchmarks.common.render_spread): label -> number
SPREAD = [("conditioning accuracy", lambda a: a["metrics"].get("accuracy"))]
COLUMNS = [
    ("conditioning accuracy", lambda a: a["metrics"].get("accuracy")),
    ("classifier on held-out real digits", lambda a: a["metrics"].get("held_out")),
]


def prepare(ctx) -> None:
    pass


def evaluate(ctx, arm, run, cfg, trained) -> dict:
    from condgan.metrics.conditioning import conditioning_accuracy
    if not checkpoints(run):
        return {"accuracy": None}
    accuracy, held_out = conditioning_accuracy(run, ctx.eval["samples"], seed=ctx.seed)
    return {"accuracy": accuracy, "held_out": held_out, "samples": ctx.eval["samples"]}


def figures(ctx, result) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(result["arms"])
    values = [result["arms"][n]["metrics"].get("accuracy") or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    ax.barh(range(len(names)), values)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.8, color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), xlabel="samples classified as their conditioned class",
           title=f"digits, {result['budget']['steps']} steps, seed {ctx.seed}")
    return [save_figure(ctx, fig)]


if __name__ == "__main__":
    sys.exit(main(sys.modules[__name__]))
