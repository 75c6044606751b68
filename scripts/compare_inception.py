"""Check condgan's FID Inception-v3 against torch-fidelity and pytorch-fid, without the real weights.

Run with an environment that has torch-fidelity, pytorch-fid and torchvision installed, and condgan itself
(``pip install -e .`` from the checkout), e.g. ``REFENV/bin/python scripts/compare_inception.py --out DIR``
(see scripts/README.md). Steps:

1. build a seeded random FIDInceptionV3 whose BatchNorm running statistics are measured on real images
   (train-mode forward, cumulative average), so features are spread out like real ones rather than
   collapsed; save it as a state dict in pytorch-fid's key format;
2. load that one file into torch-fidelity's ``FeatureExtractorInceptionV3``, pytorch-fid's ``InceptionV3``
   and condgan's ``FIDInceptionV3``; report the largest relative difference of features and logits
   (condgan default vs torch-fidelity; condgan ``resize="pytorch-fid"`` vs pytorch-fid);
3. run torch-fidelity's ``calculate_metrics`` (ISC, FID, KID, PRC) on two image sets, and store its features
   of both sets, so that condgan's metric formulas can be checked on exactly the same numbers.

Same architecture and pre-processing with any weights means same features with the real weights; the
random weights only make the check runnable offline. Figures go to ``--out`` (JSON + npz).
"""
from __future__ import annotations

import argparse
import glob
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


from condgan.metrics.inception import FIDInceptionV3

# the shared data folder beside the checkout (../shared/data), as everywhere in condgan's tooling
CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10_lossless_subset.npz"


def load_images(n: int, cifar: Path = CIFAR) -> tuple[torch.Tensor, str]:
    """uint8 (n, 3, 32, 32) real images: the lossless CIFAR-10 subset, else scikit-learn's digits."""
    if cifar.is_file():
        x = np.load(cifar)["x_train"][:n]
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), "cifar10_lossless_subset x_train"
    from sklearn.datasets import load_digits
    d = torch.from_numpy(load_digits().images).float()[:, None] / 16 * 255
    d = torch.nn.functional.interpolate(d, size=32, mode="bilinear").round().clamp(0, 255).to(torch.uint8)
    return d.repeat(1 + n // len(d), 3, 1, 1)[:n], "sklearn digits (repeated)"


def calibrated_random_net(images: torch.Tensor, seed: int, batch: int = 32) -> FIDInceptionV3:
    """Seeded random weights; BN running stats = cumulative averages over ``images`` in train mode."""
    torch.manual_seed(seed)
    net = FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative moving average
            m.reset_running_stats()
            nn.init.uniform_(m.bias, -0.1, 0.1)  # TF's graph has no BN scale: keep weight = 1
    net.train()
    with torch.no_grad():
        for i in range(0, len(images), batch):
            net(images[i:i + batch])
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return net.eval()


def batched(fn, x: torch.Tensor, batch: int = 50) -> list[torch.Tensor]:
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            o = fn(x[i:i + batch])
            outs.append(o if isinstance(o, (tuple, list)) else (o,))
    return [torch.cat(parts) for parts in zip(*outs)]


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    a, b = a.double(), b.double()
    return {"max_abs": (a - b).abs().max().item(), "max_rel": ((a - b).abs().max() / b.abs().max()).item(),
            "max_abs_ref": b.abs().max().item()}


class Uint8Set(torch.utils.data.Dataset):
    """torch-fidelity's input format: a Dataset of uint8 (3, H, W) tensors."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="images per set (set A = first n, set B = next n)")
    ap.add_argument("--calib", type=int, default=128, help="images used to set the BN statistics")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/inception-compare", help="folder for the weights, features and JSON")
    ap.add_argument("--data", default=str(CIFAR), help="npz with x_train (uint8 NHWC); digits when absent")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"n": args.n, "seed": args.seed, "torch": torch.__version__}

    def save() -> None:
        (out / "results.json").write_text(json.dumps(result, indent=2))

    images, source = load_images(2 * args.n, Path(args.data))
    a_set, b_set = images[:args.n], images[args.n:2 * args.n]
    result["images"] = f"{source}: set A = [0, {args.n}), set B = [{args.n}, {2 * args.n})"

    t = time.time()
    net = calibrated_random_net(images[-args.calib:], args.seed)
    weights = out / "random_inception_pytorch_fid_format.pth"
    torch.save(net.state_dict(), weights)
    print(f"random calibrated weights -> {weights} ({time.time() - t:.0f} s)", flush=True)

    # torch-fidelity's metrics; its feature cache gives us its own features of both sets afterwards.
    import torch_fidelity
    cache = out / "fidelity_cache"
    shutil.rmtree(cache, ignore_errors=True)
    t = time.time()
    metrics = torch_fidelity.calculate_metrics(
        input1=Uint8Set(a_set), input2=Uint8Set(b_set), cuda=False, feature_extractor="inception-v3-compat",
        feature_layer_prc="2048", isc=True, fid=True, kid=True, prc=True,
        feature_extractor_weights_path=str(weights), cache=True, cache_root=str(cache), input1_cache_name="set_a",
        input2_cache_name="set_b", kid_subset_size=min(1000, args.n), save_cpu_ram=True, verbose=False)
    result["torch_fidelity_metrics"] = {k: float(v) for k, v in metrics.items()}
    result["torch_fidelity_settings"] = (
        f"PRC on Inception pool features (torch-fidelity 0.4 defaults PRC to VGG16); kid_subset_size="
        f"{min(1000, args.n)}; otherwise defaults: isc_splits=10, kid_subsets=100, kid_degree=3, "
        "prc_neighborhood=3, rng_seed=2020")
    print(f"torch-fidelity calculate_metrics ({time.time() - t:.0f} s): {result['torch_fidelity_metrics']}", flush=True)
    save()

    def cached(name: str, feat: str) -> torch.Tensor:
        (path,) = glob.glob(str(cache / f"{name}-*-features-{feat}.pt"))
        return torch.load(path, map_location="cpu", weights_only=False)

    tf = {s: {f: cached(f"set_{s}", f) for f in ("2048", "logits_unbiased")} for s in ("a", "b")}
    np.savez(out / "torch_fidelity_features.npz", pool_a=tf["a"]["2048"].numpy(), pool_b=tf["b"]["2048"].numpy(),
             logits_unbiased_a=tf["a"]["logits_unbiased"].numpy(), logits_unbiased_b=tf["b"]["logits_unbiased"].numpy())

    # condgan (default pre-processing) vs torch-fidelity, same weights file.
    mine = FIDInceptionV3()
    mine.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    mine.eval()
    t = time.time()
    pool, logits = batched(lambda x: tuple(mine(x).values()), a_set)
    result["condgan_vs_torch_fidelity"] = {"pool": rel_diff(pool, tf["a"]["2048"]),
                                           "logits": rel_diff(logits, tf["a"]["logits_unbiased"])}
    print(f"condgan vs torch-fidelity ({time.time() - t:.0f} s): {result['condgan_vs_torch_fidelity']}", flush=True)
    save()

    # A direct torch-fidelity extractor on a few images, to confirm that the cached features are its output.
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                     feature_extractor_weights_path=str(weights)).eval()
    direct = batched(fe, a_set[:50])
    result["torch_fidelity_direct_vs_cached_first50"] = rel_diff(direct[0], tf["a"]["2048"][:50])

    # condgan resize="pytorch-fid" vs pytorch-fid, same weights file.
    import pytorch_fid.inception as pfi
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(weights, map_location="cpu", weights_only=True)
    ref = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    mine.resize = "pytorch-fid"
    t = time.time()
    (pf,) = batched(lambda x: ref(x.float() / 255)[0].flatten(1), a_set)
    (pm,) = batched(lambda x: mine(x)["pool"], a_set)
    result["condgan_pytorch_fid_mode_vs_pytorch_fid"] = {"pool": rel_diff(pm, pf)}
    # And how much the resize choice matters: torch-fidelity vs pytorch-fid pre-processing, same weights.
    result["resize_choice_effect_pool"] = rel_diff(pm, tf["a"]["2048"])
    print(f"condgan[pytorch-fid] vs pytorch-fid ({time.time() - t:.0f} s): "
          f"{result['condgan_pytorch_fid_mode_vs_pytorch_fid']}", flush=True)
    save()

    rows = [("condgan vs torch-fidelity: pool", result["condgan_vs_torch_fidelity"]["pool"]),
            ("condgan vs torch-fidelity: logits_unbiased", result["condgan_vs_torch_fidelity"]["logits"]),
            ("condgan[pytorch-fid] vs pytorch-fid: pool", result["condgan_pytorch_fid_mode_vs_pytorch_fid"]["pool"]),
            (f"torch-fidelity direct vs cached ({min(50, args.n)} imgs)",
             result["torch_fidelity_direct_vs_cached_first50"]),
            ("(resize effect) TF1 vs pytorch-fid resize", result["resize_choice_effect_pool"])]
    print(f"\n{'comparison (' + str(args.n) + ' images)':48s} {'max abs diff':>14s} {'max rel diff':>14s}")
    for name, r in rows:
        print(f"{name:48s} {r['max_abs']:14.3e} {r['max_rel']:14.3e}")
    print("\ntorch-fidelity calculate_metrics, set A vs set B (random calibrated weights):")
    for k, v in result["torch_fidelity_metrics"].items():
        print(f"  {k:40s} {v:.6f}")
    print(f"\nJSON: {out / 'results.json'}; torch-fidelity features: {out / 'torch_fidelity_features.npz'}; "
          f"weights: {weights}")


if __name__ == "__main__":
    main()
