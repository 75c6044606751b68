"""Full-size equality check of `condgan import r3gan` against the official code:
`python scripts/compare_official_r3gan.py --official R3GAN_DIR [--config cifar10]`.

Builds the official network of a train.py preset at full size with random weights (every weight, bias and
basis drawn, so no residual branch is the identity), saves it as the official training loop saves a snapshot,
imports that file with condgan, and prints the largest relative difference of condgan's G_ema, G and D outputs
from the official ones: in fp32 (the official bf16 stages set to fp32) and at the official precision. Exits 1
when an fp32 difference exceeds --tol. CIFAR-10 takes a few minutes and ~3 GB of memory on a CPU.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from condgan.published.r3gan import convert, load_networks
from r3gan_fixtures import (OFFICIAL, build_official, import_official, inputs, official_outputs, randomize,
                            set_fp32, snapshot_bytes)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


@torch.no_grad()
def condgan_outputs(nets: dict, ref: dict, official: bool) -> dict[str, torch.Tensor]:
    out = {}
    for key, net in nets.items():
        with net.official_precision() if official else torch.no_grad():
            out[key] = net(ref["x"], ref["y"])["adv"] if key == "D" else net(ref["z"], ref["y"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, help="a checkout of brownvc/R3GAN")
    ap.add_argument("--config", default="cifar10", choices=sorted(OFFICIAL))
    ap.add_argument("--n", type=int, default=4, help="latents / images compared")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    torch.manual_seed(0)
    off, spec = import_official(args.official), OFFICIAL[args.config]
    G, D, G_ema = build_official(off, spec)
    randomize(G, D, seed=0)
    randomize(G_ema, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"network-snapshot-{args.config}.pkl"
        path.write_bytes(snapshot_bytes(G, D, G_ema, {"resolution": spec["res"], "use_labels": bool(spec["classes"])},
                                        cur_nimg=0))
        imp = convert(path)
    nets = load_networks(imp)
    ref = inputs(spec, n=args.n)
    def count(m: torch.nn.Module) -> str:
        return f"{sum(p.numel() for p in m.parameters()):,}"
    print(f"{args.config}: preset {imp.provenance['preset']} ({imp.provenance['preset_match']}), parameters "
          f"official G {count(G)} D {count(D)}, condgan G {count(nets['G'])} D {count(nets['D'])}; bf16 stages G "
          f"{imp.provenance['upstream']['G_bf16_stages']} D {imp.provenance['upstream']['D_bf16_stages']}")
    at_official = official_outputs(G, D, G_ema, ref["z"], ref["c"], ref["x"])
    set_fp32(G, D, G_ema)
    at_fp32 = official_outputs(G, D, G_ema, ref["z"], ref["c"], ref["x"])
    ours_fp32, ours_official = condgan_outputs(nets, ref, False), condgan_outputs(nets, ref, True)
    worst = 0.0
    for key in ("G_ema", "G", "D"):
        d32 = rel(ours_fp32[key], at_fp32[key])
        worst = max(worst, d32)
        d16 = rel(ours_official[key], at_official[key])
        print(f"  {key:5s} max rel diff fp32 {d32:.2e} | official precision {d16:.2e}"
              f" (official bf16 vs its fp32: {rel(at_official[key], at_fp32[key]):.2e})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
