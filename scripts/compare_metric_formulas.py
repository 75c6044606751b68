"""Compare condgan's metric formulas with torch-fidelity's, pytorch-fid's and prdc's on identical features.

Run with an environment that has the references (torch-fidelity, pytorch-fid; optionally prdc and
pytorch-msssim) and condgan itself installed (``pip install -e .`` from the checkout), e.g.
    REFENV/bin/python scripts/compare_metric_formulas.py [--n 2000]
Prints each pair of numbers and their relative difference; exits 1 if any exceeds --tol.
Takes ~10 min on 2 busy CPU cores at the default --n 2000 (mostly KID: 2 x 100 subsets x 3 feature sets).
prdc and pytorch-msssim comparisons run only when those packages are importable.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from condgan.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from condgan.metrics.inception_score import inception_score
from condgan.metrics.kid import kid_from_features
from condgan.metrics.prdc import density_coverage, precision_recall

ROWS: list[tuple[str, float, float, float]] = []


def report(name: str, ours: float, ref: float) -> None:
    rel = abs(ours - ref) / max(abs(ref), 1e-12)
    ROWS.append((name, ours, ref, rel))
    print(f"{name:45s} condgan={ours:.10g}  ref={ref:.10g}  rel={rel:.2e}", flush=True)


def feature_sets(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random and structured (low-rank, non-negative like Inception pool3) float32 feature pairs."""
    sets = {}
    for d in (64, 2048):
        a = rng.standard_normal((n, d)).astype(np.float32)
        b = (rng.standard_normal((n, d)) * 1.1 + 0.05).astype(np.float32)
        sets[f"gauss-{d}"] = (a, b)
    basis = rng.standard_normal((32, 2048))
    def relu_lowrank(shift: float) -> np.ndarray:  # rank-deficient covariance (32 < 2048)
        return np.maximum(rng.standard_normal((n, 32)) @ basis * 0.1 + shift, 0).astype(np.float32)
    sets["relu-lowrank-2048"] = (relu_lowrank(0.3), relu_lowrank(0.35))
    return sets


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    from pytorch_fid.fid_score import calculate_frechet_distance
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    for name, (real, fake) in feature_sets(args.n, rng).items():
        r_t, f_t = torch.from_numpy(real), torch.from_numpy(fake)
        # FID: torch-fidelity from its own statistics (float32 mean) vs ours (float64 statistics).
        ref = fid_statistics_to_metric(fid_features_to_statistics(r_t), fid_features_to_statistics(f_t), False)
        report(f"FID torch-fidelity [{name}]", fid_from_features(real, fake), ref["frechet_inception_distance"])
        # Same float64 statistics into both formulas: isolates the formula itself.
        (m1, s1), (m2, s2) = feature_statistics(real), feature_statistics(fake)
        ref = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, False)
        report(f"FID formula torch-fidelity [{name}]", frechet_distance(m1, s1, m2, s2),
               ref["frechet_inception_distance"])
        report(f"FID pytorch-fid [{name}]", frechet_distance(m1, s1, m2, s2, mode="pytorch-fid"),
               float(calculate_frechet_distance(m1, s1, m2, s2)))
        # KID with torch-fidelity's defaults (subsets of 1000) on input1=fake, input2=real.
        ref = kid_features_to_metric(f_t, r_t, verbose=False)
        mean, std = kid_from_features(real, fake)
        report(f"KID mean [{name}]", mean, ref["kernel_inception_distance_mean"])
        report(f"KID std [{name}]", std, ref["kernel_inception_distance_std"])
        # Precision / recall (torch-fidelity: features_1 = generated, features_2 = real).
        ref = prc_features_to_metric(f_t, r_t, verbose=False)
        p, r = precision_recall(real, fake)
        report(f"precision [{name}]", p, ref["precision"])
        report(f"recall [{name}]", r, ref["recall"])
        try:
            from prdc import compute_prdc
        except ImportError:
            print("prdc not installed: skipping density/coverage comparison")
        else:
            ref = compute_prdc(real, fake, nearest_k=5)
            d, c = density_coverage(real, fake)
            report(f"density (prdc) [{name}]", d, float(ref["density"]))
            report(f"coverage (prdc) [{name}]", c, float(ref["coverage"]))

    # Inception Score on 1008-way logits: random, peaked, and a 10-class mixture.
    n = max(args.n, 1000)
    logits = {
        "random": rng.standard_normal((n, 1008)).astype(np.float32),
        "peaked": (rng.standard_normal((n, 1008)) + 12 * np.eye(1008)[rng.integers(0, 1008, n)]).astype(np.float32),
        "10-class": (3 * rng.standard_normal((n, 1008)) + 20 * np.eye(1008)[rng.integers(0, 10, n)]).astype(np.float32),
    }
    for name, lg in logits.items():
        ref = isc_features_to_metric(torch.from_numpy(lg))
        mean, std = inception_score(lg)
        report(f"IS mean [{name}]", mean, ref["inception_score_mean"])
        report(f"IS std [{name}]", std, ref["inception_score_std"])

    try:
        from pytorch_msssim import ms_ssim as ref_ms_ssim
    except ImportError:
        print("pytorch-msssim not installed: skipping MS-SSIM comparison")
    else:
        from condgan.metrics.msssim import ms_ssim
        x = torch.from_numpy(rng.integers(0, 256, (4, 3, 176, 176)).astype(np.float64))
        y = (x + torch.from_numpy(rng.normal(0, 40, x.shape))).clamp(0, 255)
        ours, ref = ms_ssim(x, y), ref_ms_ssim(x, y, data_range=255, size_average=False)
        for i in range(len(x)):
            report(f"MS-SSIM [image {i}]", ours[i].item(), ref[i].item())

    worst = max(ROWS, key=lambda r: r[3])
    print(f"\nworst relative difference: {worst[3]:.2e} ({worst[0]})")
    return int(worst[3] > args.tol)


if __name__ == "__main__":
    sys.exit(main())
