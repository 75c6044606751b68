"""Method benchmarks on Stacked MNIST (three MNIST digits as RGB channels: 1000 classes / modes).

    python -m benchmarks.stacked_mnist_methods classifier --mnist ../shared/data/mnist.npz --out runs/bench-classifier
    python -m benchmarks.stacked_mnist_methods r3gan      --mnist ../shared/data/mnist.npz --out runs/bench-r3gan

`classifier` (issue: ACGAN vs ReACGAN): class-conditional on all 1000 digit triples, ACGAN and ReACGAN with
the same BigGAN and budget. Prints the curves of ReACGAN Fig. 2 (mean norm of D's features entering the
conditioning head, norm of the conditioning loss's gradient) and the final FID in the packaged Stacked-MNIST
feature space (MNIST classifier features of the three digits), plus how often a sample shows the triple it
was conditioned on.

`r3gan` (R3GAN Table 1): unconditional; RpGAN + R1 + R2, GAN + R1 + R2 and RpGAN + R1 with the same networks
and budget (`--backbone biggan`, the default, or `r3gan`, whose grouped convolutions run about 4x slower per
step on CPU). Prints the modes covered (of 1000) and the reverse KL of the mode histogram to uniform.

Sizes default to what 2 CPU cores train in minutes; pass --steps / --width / --batch for a GPU. Each run is a
normal condgan run folder (curves in stats.jsonl, grids, `condgan report`).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import condgan
from condgan.config import load_config
from condgan.data.stacked_mnist import read_stacked_mnist
from condgan.metrics.evaluate import Features, array_batches, compute_metrics, extract, generator_batches
from condgan.metrics.modes import StackedDigitFeatures, digit_classes, load_mnist_classifier, mode_coverage

CLASSIFIER_METHODS = {
    "acgan": {"D.head": "classifier", "loss.cond": "ce", "loss.cond_lambda": 1.0},
    "reacgan": {"D.head": "embedding", "loss.cond": "d2dce", "loss.cond_lambda": 1.0, "D.embed_dim": 128,
                "loss.temperature": 0.5, "loss.m_p": 0.98},
}
R3GAN_LOSSES = {
    "rpgan+r1+r2": {"loss.adversarial": "rpgan", "loss.r1_gamma": 0.05, "loss.r2_gamma": 0.05},
    "gan+r1+r2": {"loss.adversarial": "nonsaturating", "loss.r1_gamma": 0.05, "loss.r2_gamma": 0.05},
    "rpgan+r1": {"loss.adversarial": "rpgan", "loss.r1_gamma": 0.05, "loss.r2_gamma": 0.0},
}


def base_overrides(args: argparse.Namespace, suite: str) -> dict:
    common = {"data.source": f"stacked-mnist:{args.mnist}", "train.steps": args.steps,
              "train.batch_size": args.batch, "train.seed": args.seed, "train.log_every": args.log_every,
              "train.grid_every": max(args.steps // 4, 1), "train.ckpt_every": args.steps, "train.device": "cpu",
              "train.threads": args.threads, "train.precision": "fp32", "data.hflip": False}
    if suite == "classifier":  # the BigGAN of the CIFAR presets, narrowed
        return {**common, "G.ch": args.width, "D.ch": args.width, "G.z_dim": 80, "G.shared_dim": 32,
                "G.attn_res": None, "D.attn_res": None, "train.d_steps": 1, "optim.g_lr": 2e-4,
                "optim.d_lr": 2e-4, "optim.g_betas": [0.0, 0.999], "optim.d_betas": [0.0, 0.999],
                "train.ema_decay": 0.999, "train.ema_start": 0, "train.grid_classes": 10,
                "train.grid_per_class": 4}
    if args.backbone == "biggan":  # same networks as the classifier suite; only the loss differs
        arch = {"G.arch": "biggan", "D.arch": "biggan", "G.ch": args.width, "D.ch": args.width, "G.z_dim": 64,
                "G.shared_dim": 8, "G.attn_res": None, "D.attn_res": None, "train.standing_stats": 16}
    else:
        w = args.width * 4
        arch = {"G.widths": [w] * 4, "D.widths": [w] * 4, "G.group_size": 16, "D.group_size": 16}
    return {**common, **arch, "optim.g_lr": 2e-4, "optim.d_lr": 2e-4, "optim.g_betas": [0.0, 0.99], "optim.d_betas": [0.0, 0.99],
            "schedule.burn_in_kimg": 0.0, "schedule.lr_start": None, "schedule.gamma_start": None,
            "schedule.beta2_start": None, "schedule.ema_halflife_start_kimg": None,
            "train.ema_halflife_kimg": args.batch * args.steps / 1000 / 10}


def evaluate(run: Path, real: Features, classifier, conditional: bool, n: int) -> dict:
    sampler = condgan.load(run)
    net = StackedDigitFeatures(classifier)
    images, labels = [], []
    for x, y in generator_batches(sampler, n, None, 0, 500):
        images.append(x)
        labels.append(y)
    x, y = torch.cat(images), torch.cat(labels)
    fake = extract(net, [(x[i:i + 500], y[i:i + 500]) for i in range(0, len(x), 500)], torch.device("cpu"))
    out = {"fid": compute_metrics(real, fake, ["fid"])["fid"]}
    modes = digit_classes(x, classifier)
    out.update(mode_coverage(modes))
    if conditional:  # the class a sample shows vs the class it was asked for
        out["conditioning_accuracy"] = float((modes == y.numpy()).mean())
    return out


def curves(run: Path, keys: list[str]) -> list[dict]:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return [{"step": r["step"], **{k: r.get(k) for k in keys}} for r in rows if "step" in r and keys[0] in r]


def plot(results: dict, keys: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for name, r in results.items():
            pts = [(c["step"], c[key]) for c in r["curve"] if c.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), label=name)
        ax.set_xlabel("G step")
        ax.set_title(key)
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=["classifier", "r3gan"])
    p.add_argument("--mnist", required=True, help="mnist.npz with x_train/y_train/x_test/y_test")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--only", help="comma-separated subset of the suite's runs")
    p.add_argument("--backbone", choices=["biggan", "r3gan"], default="biggan",
                   help="r3gan suite: the networks (R3GAN's grouped convs are slow on CPU; use r3gan on a GPU)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    methods = CLASSIFIER_METHODS if args.suite == "classifier" else R3GAN_LOSSES
    if args.only:
        methods = {k: v for k, v in methods.items() if k in args.only.split(",")}
    preset = "cifar10-biggan" if args.suite == "classifier" else "stacked-mnist-r3gan"
    conditional = args.suite == "classifier"

    classifier = load_mnist_classifier()
    x_real, y_real = read_stacked_mnist(args.mnist, n=args.samples, seed=1, split="test")
    real = extract(StackedDigitFeatures(classifier), array_batches(x_real.transpose(0, 2, 3, 1), y_real, 500),
                   torch.device("cpu"))
    results = {}
    for name, extra in methods.items():
        cfg = load_config(preset, {**base_overrides(args, args.suite), **extra,
                                   "data.conditional": conditional})
        run = out / name
        start = time.time()
        if not (run / "checkpoints").is_dir():
            condgan.train(cfg, run, progress=False)
        seconds = time.time() - start
        keys = (["probe/feature_norm", "probe/cond_grad_norm", "D/cond"] if conditional else ["D/loss", "G/loss"])
        results[name] = {"train_seconds": round(seconds, 1), **evaluate(run, real, classifier, conditional,
                                                                          args.samples), "curve": curves(run, keys)}
        r = results[name]
        print(f"{name:>12}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in r.items() if k != "curve"), flush=True)
    backbone = "biggan" if conditional else args.backbone
    budget = (f"{args.steps} G steps x batch {args.batch} ({args.steps * args.batch / 1000:.0f} kimg), "
              f"{backbone} width {args.width}, seed {args.seed}, {args.samples} samples evaluated")
    print(f"\nbudget: {budget}")
    if conditional:
        print("\nstep  " + "  ".join(f"{n + ' feat':>14}{n + ' grad':>14}" for n in results))
        steps = [c["step"] for c in next(iter(results.values()))["curve"]]
        for i, step in enumerate(steps):
            if i % max(len(steps) // 15, 1) and i != len(steps) - 1:
                continue
            cells = []
            for r in results.values():
                c = r["curve"][i] if i < len(r["curve"]) else {}
                cells += [c.get("probe/feature_norm") or float("nan"), c.get("probe/cond_grad_norm") or float("nan")]
            print(f"{step:5d} " + "".join(f"{v:14.4g}" for v in cells))
        plot(results, ["probe/feature_norm", "probe/cond_grad_norm"], out / "probes.png")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"budget": budget, "results": results}, indent=2) + "\n")
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
