"""R3GAN, Table 1: which loss covers all 1000 modes of Stacked MNIST, and which diverges.

Unconditional Stacked MNIST, the same network and budget for the four losses; modes (of 1000) and reverse KL
of 10,000 samples read by condgan's shipped MNIST classifier, at several checkpoints (the curve shows the trend
when the budget is too short), and whether and when each run diverges: training stops at the first
non-finite loss (`DivergenceError` names the step), and D's gradient on fakes, E‖∇ₓD(G(z))‖² (logged as
`D/r2` by every arm, all of which have R1), is recorded over training.

    python -m benchmarks.r3gan_stacked_mnist [--scale cpu|gpu] [--seed S] [--smoke] [--dry-run] [--data SRC]
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from benchmarks.common import Arm, SHARED_DATA, checkpoints, main, save_figure

NAME = "r3gan_stacked_mnist"
TITLE = "R3GAN Table 1: RpGAN/GAN with R1(+R2) on unconditional Stacked MNIST"
DEFAULT_DATA = f"stacked-mnist:{SHARED_DATA / 'mnist.npz'}"
EXPLODES = 100.0  # D's gradient on fakes "explodes": a logged E|grad D(fake)|^2 above 100x its early median

ARMS = [
    Arm("rpgan+r1+r2", {"loss.adversarial": "rpgan", "loss.r2_gamma": 0.05}, paper="1000 / 0.078"),
    Arm("gan+r1+r2", {"loss.adversarial": "nonsaturating", "loss.r2_gamma": 0.05}, paper="693 / 0.927"),
    Arm("rpgan+r1", {"loss.adversarial": "rpgan", "loss.r2_gamma": 0.0}, paper="fails"),
    Arm("gan+r1", {"loss.adversarial": "nonsaturating", "loss.r2_gamma": 0.0}, paper="fails"),
]

_NARROW_BIGGAN = {  # cpu: R3GAN's grouped convolutions cost ~4 s per step on 2 cores; one narrow BigGAN for all
    "G.arch": "biggan", "D.arch": "biggan", "G.ch": 8, "D.ch": 8, "G.z_dim": 64, "G.shared_dim": 8,
    "G.attn_res": None, "D.attn_res": None, "train.standing_stats": 16,
}
SCALES = {
    "cpu": {"preset": "stacked-mnist-r3gan",
            "overrides": {**_NARROW_BIGGAN, "loss.r1_gamma": 0.05, "train.batch_size": 64, "train.steps": 2700,
                          "train.precision": "fp32", "train.threads": 2, "train.device": "cpu",
                          "train.channels_last": True,
                          "optim.g_lr": 2e-4, "optim.d_lr": 2e-4, "schedule.burn_in_kimg": 0.0,
                          "schedule.lr_start": None, "schedule.gamma_start": None, "schedule.beta2_start": None,
                          "schedule.ema_halflife_start_kimg": None, "train.ema_halflife_kimg": 15.0,
                          "train.log_every": 25, "train.grid_every": 900, "train.ckpt_every": 300,
                          "train.keep_ckpts": 1000},
            "eval": {"samples": 10000, "curve_samples": 5000}},
    "gpu": {"preset": "stacked-mnist-r3gan",  # the preset's Config E, 40k steps x 256, gamma 0.05 -> 0.005
            "overrides": {"loss.r1_gamma": 0.005, "train.ckpt_every": 2500, "train.keep_ckpts": 1000},
            "eval": {"samples": 10000, "curve_samples": 10000}},
    "smoke": {"overrides": {"G.ch": 4, "D.ch": 4, "G.z_dim": 16, "G.shared_dim": 4, "G.arch": "biggan",
                            "D.arch": "biggan", "G.attn_res": None, "D.attn_res": None, "train.batch_size": 16,
                            "train.steps": 4, "train.log_every": 2, "train.grid_every": 4, "train.ckpt_every": 2,
                            "train.standing_stats": 1, "train.precision": "fp32", "schedule.burn_in_kimg": 0.0},
              "eval": {"samples": 200, "curve_samples": 100, "limit": 256}},
}
CURVE_KEYS = ["D/loss", "G/loss", "D/r1", "D/r2"]
# the main README's digest (benchmarks.common.render_summary): column title -> its short label
HEADLINE = {"modes (of 1000)": "modes", "reverse KL": "reverse KL"}
# the run-to-run spread over seeds (benchmarks.common.render_spread): label -> number
SPREAD = [("modes", lambda a: a["metrics"].get("modes")), ("reverse KL", lambda a: a["metrics"].get("reverse_kl"))]
COLUMNS = [
    ("modes (of 1000)", lambda a: a["metrics"].get("modes")),
    ("reverse KL", lambda a: a["metrics"].get("reverse_kl")),
    ("max E‖∇D(fake)‖²", lambda a: a["metrics"].get("max_grad_fake_sq")),
    ("‖∇D(fake)‖² explodes", lambda a: a["metrics"].get("explodes_at")),
]


def prepare(ctx) -> None:
    from condgan.metrics.modes import load_mnist_classifier
    ctx.state["classifier"] = load_mnist_classifier(device=ctx.device)
    if ctx.smoke and ctx.data.startswith("stacked-mnist:"):  # a few hundred stacked images, not 60,000
        from condgan.data.stacked_mnist import read_stacked_mnist
        x, y = read_stacked_mnist(ctx.data.removeprefix("stacked-mnist:"), ctx.eval["limit"], 0, split="train")
        ctx.data = str(ctx.out / "stacked-mnist-smoke.npz")
        np.savez(ctx.data, x=x.transpose(0, 2, 3, 1), y=np.zeros(len(y), np.int64))


def modes(ctx, checkpoint, n: int) -> dict:
    import condgan
    from condgan.metrics.evaluate import generator_batches
    from condgan.metrics.modes import digit_classes, mode_coverage
    sampler = condgan.load(checkpoint, device=ctx.device)
    with torch.no_grad():
        c = np.concatenate([digit_classes(x, ctx.state["classifier"])
                            for x, _ in generator_batches(sampler, n, None, ctx.seed, 500)])
    return mode_coverage(c)


def explosion(curve: list[list[float]]) -> int | None:
    """First logged step where E|grad D(fake)|^2 exceeds EXPLODES x its median over the first tenth."""
    if len(curve) < 10:
        return None
    early = float(np.median([v for _, v in curve[:max(len(curve) // 10, 3)]]))
    return next((int(s) for s, v in curve if v > EXPLODES * max(early, 1e-12)), None)


def evaluate(ctx, arm, run, cfg, trained) -> dict:
    from benchmarks.common import curves
    ckpts = [(s, p) for s, p in checkpoints(run)]
    if not ckpts:
        return {"modes": None, "reverse_kl": None, "curve": []}
    final = modes(ctx, ckpts[-1][1], ctx.eval["samples"])
    curve = [{"step": s, **modes(ctx, p, ctx.eval["curve_samples"])} for s, p in ckpts[:-1]]
    curve.append({"step": ckpts[-1][0], **final})
    grad = curves(run, ["D/r2"])["D/r2"]
    return {**final, "step": ckpts[-1][0], "samples": ctx.eval["samples"], "curve": curve,
            "curve_samples": ctx.eval["curve_samples"],
            "max_grad_fake_sq": max((v for _, v in grad), default=None), "explodes_at": explosion(grad)}


def figures(ctx, result) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, a in result["arms"].items():
        pts = [(c["step"], c["modes"]) for c in a["metrics"].get("curve", [])]
        if pts:
            axes[0].plot(*zip(*pts), marker="o", label=name)
        g = a["curves"].get("D/r2", [])
        if g:
            axes[1].plot(*zip(*g), label=name)
    axes[0].set(xlabel="G step", ylabel="modes (of 1000)", title="mode coverage over training")
    axes[1].set(xlabel="G step", ylabel="E‖∇D(fake)‖²", yscale="log", title="D's gradient on fakes")
    for ax in axes:
        ax.legend(fontsize=8)
    return [save_figure(ctx, fig)]


if __name__ == "__main__":
    sys.exit(main(sys.modules[__name__]))
