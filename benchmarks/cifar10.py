"""CIFAR-10 for the benchmarks: the JPEG copy in ../shared/data decoded once into a plain npz (condgan reads
npz files with x_train/y_train/x_test/y_test), a CIFAR-10 classifier trained with `condgan evaluator train`,
and the evaluation both CIFAR experiments share.

Why a prepare step and not a new data source: the copy is lossy JPEG bytes, a format only this benchmark
needs; decoding once (~30 s) into the git-ignored `.cache/benchmarks/` keeps condgan's data sources generic.

Feature spaces are named in every key: `fid_inception` is FID in the standard Inception-v3 features
(`condgan weights install`), `fid_classifier` is FID in the CIFAR-10 classifier's features (not comparable
with published FIDs).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CACHE, SHARED_DATA

JPEG_NPZ = SHARED_DATA / "cifar10_jpeg_bytes.npz"
CPU_OVERRIDES = {  # both CIFAR experiments' CPU size: a width-8 BigGAN, 3,600 steps x 64 (benchmarks/README.md)
    "G.ch": 8, "D.ch": 8, "G.attn_res": None, "D.attn_res": None, "train.d_steps": 2, "train.batch_size": 64,
    "train.steps": 3600, "train.ema_start": 200, "train.ema_decay": 0.999, "train.threads": 2, "train.device": "cpu",
    "train.channels_last": True, "train.log_every": 20, "train.grid_every": 1200, "train.ckpt_every": 450,
    "train.keep_ckpts": 1000,
}
CPU_EVAL = {  # ... and what both evaluate: FID-2k against 10k real test images, FID-1k curves, the classifier
    "inception": True, "samples": 2000, "real_samples": 10000, "real_split": "test", "curve_samples": 1000,
    "classifier_epochs": 10, "classifier_width": 32,
}
SMOKE_OVERRIDES = {  # both CIFAR experiments' seconds-long size
    "G.ch": 2, "D.ch": 2, "G.attn_res": None, "D.attn_res": None, "G.shared_dim": 8, "train.d_steps": 1,
    "train.batch_size": 16, "train.steps": 4, "train.log_every": 2, "train.grid_every": 4, "train.ckpt_every": 2,
    "train.standing_stats": 1, "train.ema_start": 0,
}


def decode_split(packed, split: str, limit: int | None) -> np.ndarray:
    from PIL import Image
    buf, off = packed[f"{split}_jpeg"], packed[f"{split}_offsets"]
    n = len(off) - 1 if limit is None else min(limit, len(off) - 1)
    return np.stack([np.asarray(Image.open(io.BytesIO(buf[off[i]:off[i + 1]].tobytes())).convert("RGB"))
                     for i in range(n)])


def prepare_data(src: str | Path = JPEG_NPZ, out_dir: Path = CACHE, limit: int | None = None) -> Path:
    """Decode the JPEG copy into `out_dir/cifar10-jpeg[-LIMIT].npz` (uint8 NHWC, once; written atomically).
    `limit`: only the first N images of each split (smoke runs). The test split is grouped by class, so a
    limited test split is spread over classes by taking every k-th image."""
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: the CIFAR-10 JPEG copy is missing (expected ../shared/data beside the "
                                "checkout, or pass --data)")
    out = Path(out_dir) / f"cifar10-jpeg{f'-{limit}' if limit else ''}.npz"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with np.load(src) as packed:
        y_test = packed["y_test"]
        x_test = decode_split(packed, "test", None if limit is None else len(y_test))
        keep = slice(None) if limit is None else slice(0, len(y_test), max(1, len(y_test) // limit))
        arrays = {"x_train": decode_split(packed, "train", limit), "x_test": x_test[keep][:limit],
                  "y_test": y_test[keep][:limit].astype(np.int64)}
        arrays["y_train"] = packed["y_train"][:len(arrays["x_train"])].astype(np.int64)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays, class_names=np.array(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                  "horse", "ship", "truck"]))
    tmp.replace(out)
    return out


def prepare_classifier(data: Path, out_dir: Path, epochs: int, width: int) -> Path:
    """A CIFAR-10 classifier trained with `condgan evaluator train` (held out: the test split), cached."""
    out = Path(out_dir) / f"cifar10-classifier-{data.stem}-e{epochs}-w{width}.pt"
    if not out.is_file():
        from condgan.cli import main
        rc = main(["evaluator", "train", "--data", str(data), "--out", str(out), "--epochs", str(epochs),
                   "--width", str(width)])
        if rc:
            raise RuntimeError(f"condgan evaluator train failed ({rc})")
    return out


def cache_folder(ctx) -> Path:
    """Where decoded data and the trained classifier are kept: the smoke run's own folder, else the cache."""
    return ctx.out if ctx.smoke else CACHE


def training_data(ctx) -> None:
    """What training reads: the JPEG copy decoded once (ctx.data then names the decoded npz)."""
    if not ctx.data.endswith(".npz") or "cifar10_jpeg_bytes" in ctx.data:
        ctx.data = str(prepare_data(ctx.data if ctx.data.endswith(".npz") else JPEG_NPZ, cache_folder(ctx),
                                    ctx.eval.get("limit")))


def prepare(ctx) -> None:
    """Data (decoded once), the classifier, the feature networks and the real features (cached)."""
    from condgan.metrics.evaluate import cached_real_features, feature_network, read_image_set
    from condgan.metrics.weights import cache_dir
    e = ctx.eval
    training_data(ctx)
    clf = prepare_classifier(Path(ctx.data), cache_folder(ctx), e["classifier_epochs"], e["classifier_width"])
    cache = None if ctx.smoke else cache_dir() / "stats"
    nets = {"classifier": feature_network(str(clf), None, ctx.device)[0]}
    if e["inception"]:
        nets["inception"] = feature_network("inception", None, ctx.device)[0]
    real = {}
    for name, net in nets.items():
        n = e["real_samples"] if name == "inception" else None
        x, y, _ = read_image_set(ctx.data, split=e["real_split"])
        real[name] = cached_real_features(net, x[:n], y[:n], ctx.device, cache)
    x_test, y_test, _ = read_image_set(ctx.data, split="test")
    ctx.state.update(nets=nets, real=real, real_test=(x_test, y_test), classifier_path=str(clf))


def generate(ctx, checkpoint, n: int, truncation: float | None = None) -> list:
    import condgan
    from condgan.metrics.evaluate import generator_batches
    sampler = condgan.load(checkpoint, device=ctx.device)
    with torch.no_grad():
        return [(x.cpu(), y) for x, y in generator_batches(sampler, n, truncation, ctx.seed, 250)]


def classifier_metrics(ctx, batches: list, metrics=("fid", "prdc", "accuracy", "is")) -> dict:
    """Metrics in the CIFAR-10 classifier's features; keys say so (`fid_classifier`, ...)."""
    from condgan.metrics.evaluate import compute_metrics, extract
    fake = extract(ctx.state["nets"]["classifier"], batches, ctx.device)
    out = compute_metrics(ctx.state["real"]["classifier"], fake, metrics)
    return {f"{k}_classifier": v for k, v in out.items() if k not in ("num_real", "num_fake")}


def inception_fid(ctx, batches: list) -> dict:
    """FID in the standard Inception features with its sample count, or {} where Inception is off (smoke)."""
    if "inception" not in ctx.state["nets"]:
        return {}
    from condgan.metrics.evaluate import compute_metrics, extract
    fake = extract(ctx.state["nets"]["inception"], batches, ctx.device)
    out = compute_metrics(ctx.state["real"]["inception"], fake, ["fid"])
    return {"fid_inception": out["fid"], "fid_inception_samples": out["num_fake"],
            "fid_inception_real": out["num_real"]}


def msssim(ctx, batches: list) -> dict:
    """ACGAN Fig. 7: mean per-class MS-SSIM of generated images beside the real test images' (lower: more
    diverse; a class whose samples collapsed reads near 1)."""
    from condgan.metrics.msssim import class_msssim
    pairs = ctx.eval["msssim_pairs"]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches]).numpy()
    fake = class_msssim(x, y, pairs_per_class=pairs, seed=ctx.seed)
    rx, ry = ctx.state["real_test"]
    real = class_msssim(torch.from_numpy(rx).permute(0, 3, 1, 2), ry, pairs_per_class=pairs, seed=ctx.seed)
    return {"msssim_fake": fake["mean"], "msssim_real": real["mean"],
            "msssim_fake_per_class": {str(k): v for k, v in fake["per_class"].items()},
            "msssim_real_per_class": {str(k): v for k, v in real["per_class"].items()}}


def wall_clock(stats: list[dict], step: int) -> float:
    """Training seconds up to `step`, summed from stats.jsonl's per-interval seconds per step."""
    total, prev = 0.0, 0
    for r in stats:
        if "sec_per_step" in r and r["step"] <= step:
            total += r["sec_per_step"] * (r["step"] - prev)
            prev = r["step"]
    return round(total, 1)
