"""BigGAN on class-conditional CIFAR-10: FID against steps and wall-clock, the truncation trade-off, and
orthogonal regularisation on against off at the same budget.

FID over training and at the end is in the standard Inception features (sample count in the name); the
truncation sweep (thresholds 2 ... 0.25) reports FID, precision/recall and IS in the CIFAR-10 classifier's
features (BigGAN's trade-off: lower truncation, higher precision/IS, lower recall/variety), which is cheap
enough to run at every threshold on a CPU.

    python -m benchmarks.biggan_cifar10 [--scale cpu|gpu] [--seed S] [--smoke] [--dry-run] [--data NPZ]
"""
from __future__ import annotations

import sys

from benchmarks import cifar10
from benchmarks.common import Arm, checkpoints, main, read_stats, save_figure

NAME = "biggan_cifar10"
TITLE = "BigGAN on class-conditional CIFAR-10 (JPEG copy): FID over time, truncation, orthogonal regularisation"
DEFAULT_DATA = cifar10.JPEG_NPZ
TRUNCATIONS = [2.0, 1.5, 1.0, 0.75, 0.5, 0.25]

ARMS = [
    Arm("biggan", {"loss.g_ortho": 0.0}, paper="ortho. reg. makes G amenable to truncation (BigGAN §3.1)"),
    Arm("biggan+ortho", {"loss.g_ortho": 1e-4}, paper="β = 1e-4 (BigGAN §3.1)"),
]
SCALES = {
    "cpu": {"preset": "cifar10-biggan", "overrides": cifar10.CPU_OVERRIDES,
            "eval": {**cifar10.CPU_EVAL, "inception_curve_every": 2, "truncation_samples": 2000}},
    "gpu": {"preset": "cifar10-biggan",  # StudioGAN's full BigGAN, 100k steps
            "overrides": {"train.keep_ckpts": 1000},
            "eval": {"inception": True, "samples": 50000, "real_samples": 50000, "real_split": "train",
                     "curve_samples": 10000, "inception_curve_every": 2, "classifier_epochs": 30,
                     "classifier_width": 64, "truncation_samples": 10000}},
    "smoke": {"overrides": cifar10.SMOKE_OVERRIDES,
              "eval": {"inception": False, "samples": 100, "real_samples": 100, "curve_samples": 50, "limit": 200,
                       "classifier_epochs": 1, "classifier_width": 4, "truncation_samples": 50}},
}
CURVE_KEYS = ["D/loss", "G/loss", "G/ortho"]
# the main README's digest (benchmarks.common.render_summary): column title -> its short label
HEADLINE = {"FID (Inception; FID-Nk = N thousand samples)": "Inception",
            "precision, trunc. 2 → 0.25 (classifier)": "precision, trunc. 2 → 0.25",
            "recall, trunc. 2 → 0.25 (classifier)": "recall, trunc. 2 → 0.25"}
# the run-to-run spread over seeds (benchmarks.common.render_spread): label -> number
SPREAD = [("Inception FID", lambda a: a["metrics"].get("fid_inception")),
          *[(f"classifier FID, trunc. {t:g}", lambda a, t=t: _at(a, t, "fid_classifier")) for t in (2.0, 1.0, 0.5)],
          ("precision, trunc. 1", lambda a: _at(a, 1.0, "precision_classifier")),
          ("recall, trunc. 1", lambda a: _at(a, 1.0, "recall_classifier"))]
COLUMNS = [
    ("FID (Inception; FID-Nk = N thousand samples)",
     lambda a: f"FID-{a['metrics']['fid_inception_samples'] // 1000}k {a['metrics']['fid_inception']:.1f}"
     if a["metrics"].get("fid_inception") is not None else None),
    ("FID (classifier features), trunc. 2 → 0.25",
     lambda a: _sweep(a, "fid_classifier")),
    ("precision, trunc. 2 → 0.25 (classifier)", lambda a: _sweep(a, "precision_classifier")),
    ("recall, trunc. 2 → 0.25 (classifier)", lambda a: _sweep(a, "recall_classifier")),
    ("IS (classifier), trunc. 2 → 0.25", lambda a: _sweep(a, "is_mean_classifier")),
]


def _at(a, threshold: float, key: str) -> float | None:
    return next((r[key] for r in a["metrics"].get("truncation", []) if r["truncation"] == threshold), None)


def _sweep(a, key) -> str | None:
    rows = a["metrics"].get("truncation", [])
    return f"{rows[0][key]:.3g} → {rows[-1][key]:.3g}" if rows else None


prepare = cifar10.prepare
training_data = cifar10.training_data


def evaluate(ctx, arm, run, cfg, trained) -> dict:
    ckpts = checkpoints(run)
    if not ckpts:
        return {"curve": [], "truncation": []}
    stats = read_stats(run)
    every = ctx.eval.get("inception_curve_every", 1)
    curve = []
    for i, (s, p) in enumerate(ckpts[:-1]):  # FID over training: steps and wall-clock seconds
        batches = cifar10.generate(ctx, p, ctx.eval["curve_samples"])
        row = {"step": s, "seconds": cifar10.wall_clock(stats, s), **cifar10.classifier_metrics(ctx, batches, ["fid"])}
        if (i + 1) % every == 0:
            row.update(cifar10.inception_fid(ctx, batches))
        curve.append(row)
    batches = cifar10.generate(ctx, ckpts[-1][1], ctx.eval["samples"])
    final = {"step": ckpts[-1][0], "seconds": cifar10.wall_clock(stats, ckpts[-1][0]),
             **cifar10.inception_fid(ctx, batches), **cifar10.classifier_metrics(ctx, batches)}
    curve.append({k: v for k, v in final.items() if k in ("step", "seconds", "fid_classifier", "fid_inception",
                                                          "fid_inception_samples")})
    sweep = [{"truncation": t, **cifar10.classifier_metrics(
        ctx, cifar10.generate(ctx, ckpts[-1][1], ctx.eval["truncation_samples"], t), ["fid", "prdc", "is"])}
        for t in TRUNCATIONS]
    return {**final, "samples": ctx.eval["samples"], "curve": curve, "truncation": sweep}


def figures(ctx, result) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for i, (name, a) in enumerate(result["arms"].items()):
        curve = a["metrics"].get("curve", [])
        key = "fid_inception" if any(c.get("fid_inception") is not None for c in curve) else "fid_classifier"
        counts = sorted({c.get(f"{key}_samples") for c in curve if c.get(key) is not None}, key=lambda n: n or 0)
        for n in counts:  # one line per sample count: FID-2k reads lower than FID-1k, so they are not joined
            pts = [(c["step"], c["seconds"] / 60, c[key]) for c in curve
                   if c.get(key) is not None and c.get(f"{key}_samples") == n]
            steps, minutes, fid = zip(*pts)
            label = f"{name} ({key.removeprefix('fid_')} FID" + (f"-{n // 1000}k)" if n else ")")
            style = {"color": f"C{i}", "marker": "o" if n == counts[0] else "s", "label": label}
            axes[0].plot(steps, fid, **style)
            axes[1].plot(minutes, fid, **style)
        sweep = a["metrics"].get("truncation", [])
        if sweep:
            axes[2].plot([r["precision_classifier"] for r in sweep], [r["recall_classifier"] for r in sweep],
                         marker="o", label=name)
            for r in sweep:
                axes[2].annotate(f"{r['truncation']:g}", (r["precision_classifier"], r["recall_classifier"]),
                                 fontsize=7)
    axes[0].set(xlabel="G step", ylabel="FID", title="FID over steps")
    axes[1].set(xlabel="training minutes", ylabel="FID", title="FID over wall-clock")
    axes[2].set(xlabel="precision", ylabel="recall", title="truncation 2 → 0.25 (classifier features)")
    for ax in axes:
        ax.legend(fontsize=7)
    return [save_figure(ctx, fig)]


if __name__ == "__main__":
    sys.exit(main(sys.modules[__name__]))
