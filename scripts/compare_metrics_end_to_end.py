"""End to end against torch-fidelity: condgan's own pipeline (its Inception network + its metric formulas)
on the same images and the same weights file that `scripts/compare_inception.py` gave torch-fidelity.

    REFENV/bin/python scripts/compare_inception.py --n 2000 --out DIR   # torch-fidelity's numbers
    python scripts/compare_metrics_end_to_end.py --dir DIR                # condgan's, and the differences

DIR defaults to runs/inception-compare; the images are ../shared/data/cifar10_lossless_subset.npz beside the
checkout unless --data names them (the same file compare_inception.py read).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10_lossless_subset.npz"


def main() -> int:
    from condgan.metrics.evaluate import array_batches, compute_metrics, extract
    from condgan.metrics.weights import load_feature_network

    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="runs/inception-compare", help="compare_inception.py's --out folder")
    ap.add_argument("--data", default=str(CIFAR), help="npz with x_train, as given to compare_inception.py")
    args = ap.parse_args()
    folder = Path(args.dir)
    ref = json.loads((folder / "results.json").read_text())
    n = ref["n"]
    x = np.load(args.data)["x_train"][: 2 * n]
    state = torch.load(folder / "random_inception_pytorch_fid_format.pth", weights_only=True)
    net = load_feature_network(state)  # in-memory state dict: the caller vouches for it (random weights)
    torch.set_num_threads(2)
    a = extract(net, array_batches(x[:n], None, 50), torch.device("cpu"))
    b = extract(net, array_batches(x[n:], None, 50), torch.device("cpu"))
    # torch-fidelity's input1 (set A) plays the generated set, input2 (set B) the real one
    mine = compute_metrics(b, a, ["fid", "is", "kid", "prdc"])
    tf = ref["torch_fidelity_metrics"]
    pairs = {"fid": "frechet_inception_distance", "is_mean": "inception_score_mean",
             "is_std": "inception_score_std", "kid_mean": "kernel_inception_distance_mean",
             "kid_std": "kernel_inception_distance_std", "precision": "precision", "recall": "recall"}
    print(f"{'metric':12s} {'condgan':>16s} {'torch-fidelity':>16s} {'rel. diff':>10s}   ({n} vs {n} images)")
    worst = 0.0
    rows = {}
    for mk, tk in pairs.items():
        rel = abs(mine[mk] - tf[tk]) / max(abs(tf[tk]), 1e-12)
        worst = max(worst, rel)
        rows[mk] = {"condgan": mine[mk], "torch_fidelity": tf[tk], "rel_diff": rel}
        print(f"{mk:12s} {mine[mk]:16.8f} {tf[tk]:16.8f} {rel:10.2e}")
    print(f"worst relative difference: {worst:.2e} (target <= 1e-4)")
    (folder / "end_to_end.json").write_text(json.dumps(rows, indent=2))
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
