"""Domain-evaluator acceptance figures: held-out accuracy on digits and MNIST, FID in the evaluator's
features for real-vs-real halves, an untrained generator and a trained one.

    python scripts/evaluator_figures.py --run runs/digits [--mnist ../shared/data/mnist.npz] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def halves_fid(net, images, labels):
    from condgan.metrics.evaluate import array_batches, extract
    from condgan.metrics.fid import fid_from_features
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(images))
    a, b = perm[: len(perm) // 2], perm[len(perm) // 2:]
    fa = extract(net, array_batches(images[a], labels[a], 500), torch.device("cpu"))
    fb = extract(net, array_batches(images[b], labels[b], 500), torch.device("cpu"))
    return fid_from_features(fa.pool, fb.pool)


def generator_fid(net, sampler, images, labels, n):
    from condgan.metrics.evaluate import array_batches, extract, generator_batches
    from condgan.metrics.fid import fid_from_features
    real = extract(net, array_batches(images, labels, 500), torch.device("cpu"))
    fake = extract(net, generator_batches(sampler, n, None, 0, 250), torch.device("cpu"))
    return fid_from_features(real.pool, fake.pool)


def main() -> int:
    import condgan
    from condgan.config import config_from_dict
    from condgan.data import load_images
    from condgan.data.resize import with_resolution
    from condgan.metrics.evaluator import save_evaluator, train_evaluator
    from condgan.models import build_networks
    from condgan.sample import ConditionalSampler
    from condgan.training.checkpoint import load_checkpoint, resolve_checkpoint

    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a trained digits run")
    ap.add_argument("--mnist", default="../shared/data/mnist.npz")
    ap.add_argument("--out", default="runs/evaluator-figures")
    ap.add_argument("--n", type=int, default=1797)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    res: dict = {}

    state = load_checkpoint(resolve_checkpoint(args.run))
    cfg, meta = config_from_dict(state["config"]), state["data"]
    digits = with_resolution(load_images("digits"), cfg.data.resolution)
    t0 = time.time()
    net, acc = train_evaluator(digits.images, digits.labels, digits.class_names, epochs=15, batch_size=64)
    save_evaluator(net, out / "digits-evaluator.pt", digits.class_names, acc, digits.source)
    res["digits_held_out_accuracy"] = acc
    res["digits_evaluator_seconds"] = time.time() - t0
    res["digits_fid_real_halves"] = halves_fid(net, digits.images, digits.labels)
    trained = condgan.load(args.run)
    G0, _ = build_networks(cfg, meta["num_classes"], meta["resolution"], meta["channels"])  # untrained
    untrained = ConditionalSampler(G0, meta["class_names"], torch.device("cpu"))
    res["digits_fid_trained_G"] = generator_fid(net, trained, digits.images, digits.labels, args.n)
    res["digits_fid_untrained_G"] = generator_fid(net, untrained, digits.images, digits.labels, args.n)
    res["untrained_over_trained"] = res["digits_fid_untrained_G"] / res["digits_fid_trained_G"]
    print(json.dumps(res, indent=2), flush=True)

    if Path(args.mnist).is_file():
        train, test = load_images(args.mnist, split="train"), load_images(args.mnist, split="test")
        t0 = time.time()
        net, acc = train_evaluator(train.images, train.labels, train.class_names, epochs=3, batch_size=128,
                                   width=16, held_out_images=test.images, held_out_labels=test.labels)
        save_evaluator(net, out / "mnist-evaluator.pt", train.class_names, acc, train.source)
        res["mnist_test_accuracy"] = acc
        res["mnist_evaluator_seconds"] = time.time() - t0
        res["mnist_fid_real_halves_test"] = halves_fid(net, test.images, test.labels)
    (out / "figures.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
