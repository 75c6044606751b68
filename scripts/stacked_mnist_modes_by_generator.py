"""Is a Stacked-MNIST run's mode coverage the EMA's average over a generator that hops between modes?

For every K-th checkpoint of a run (and the last), counts the modes (of 1000) of N samples of the EMA
generator and of the raw generator, each with BatchNorm's stored statistics and with batch statistics (so a
BatchNorm backbone's standing statistics can be ruled in or out). Same latents for all four.

    python scripts/stacked_mnist_modes_by_generator.py RUN [RUN ...] [--every 3] [--n 5000]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from condgan.config import config_from_dict
from condgan.io import read_checkpoint
from condgan.metrics.modes import generator_modes, load_mnist_classifier
from condgan.models import build_networks
from condgan.training.checkpoint import list_checkpoints


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders of unconditional Stacked-MNIST runs")
    p.add_argument("--every", type=int, default=3, help="every K-th checkpoint (the last always)")
    p.add_argument("--n", type=int, default=5000, help="samples per count")
    args = p.parse_args()
    torch.manual_seed(0)
    classifier = load_mnist_classifier(device=torch.device("cpu"))
    print("| run | step | G_ema | G_ema, batch stats | G | G, batch stats |\n|---|---|---|---|---|---|")
    for run in map(Path, args.runs):
        ckpts = list_checkpoints(run / "checkpoints")
        if not ckpts:
            raise SystemExit(f"{run}: no checkpoints")
        for step, path in ckpts[::args.every] + ([ckpts[-1]] if (len(ckpts) - 1) % args.every else []):
            state = read_checkpoint(path)
            cfg, meta = config_from_dict(state["config"]), state["data"]
            G, _ = build_networks(cfg, meta["num_classes"], meta["resolution"], meta["channels"])
            counts = []
            for key in ("G_ema", "G"):
                G.load_state_dict(state[key])
                counts += [generator_modes(G, classifier, args.n, batch_stats=b) for b in (False, True)]
            print(f"| {run.name} | {step:,} | " + " | ".join(map(str, counts)) + " |", flush=True)


if __name__ == "__main__":
    main()
