"""Train the MNIST digit classifier that ships with condgan (condgan/metrics/assets/mnist_classifier.pt).

It reads Stacked-MNIST modes (`condgan.metrics.modes.digit_classes`) and gives the feature space for FID on
Stacked MNIST (`condgan.metrics.modes.StackedDigitFeatures`). A 1-channel `DomainClassifier` (width 16,
~82k parameters, ~0.3 MB in fp32) is trained with `train_evaluator` on the 60k MNIST training digits
zero-padded to 32x32 with `pad_digits`, exactly as each Stacked-MNIST channel is built, and scored on the
10k test digits padded the same way.

    python scripts/train_mnist_classifier.py [--mnist ../shared/data/mnist.npz] [--out PATH]

After retraining, copy the printed sha256 into MNIST_CLASSIFIER_SHA256 in condgan/metrics/modes.py.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on cores shared with other jobs, spinning made each step
# ~5x slower. Must be set before torch starts its thread pool; numerics are unaffected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
DEFAULT_OUT = ROOT / "condgan" / "metrics" / "assets" / "mnist_classifier.pt"
MIN_ACCURACY = 0.99


def main() -> int:
    from condgan.data.stacked_mnist import pad_digits
    from condgan.metrics.evaluator import save_evaluator, train_evaluator

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", default=str(DEFAULT_MNIST), help="npz with x_train, y_train, x_test, y_test")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    mnist = Path(args.mnist)
    if not mnist.is_file():
        print(f"error: MNIST file '{mnist}' does not exist; pass --mnist PATH to an .npz with x_train (60000, 28, "
              "28) uint8, y_train, x_test, y_test", file=sys.stderr)
        return 2
    with np.load(mnist) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    # (N, 28, 28) -> (N, 32, 32, 1): the channel layout train_evaluator expects
    x_train, x_test = pad_digits(x_train)[..., None], pad_digits(x_test)[..., None]
    print(f"MNIST: {len(x_train)} training and {len(x_test)} test digits padded to {x_train.shape[1:3]}; "
          f"width {args.width}, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, seed {args.seed}, "
          f"{torch.get_num_threads()} threads", flush=True)

    t0 = time.time()
    net, acc = train_evaluator(x_train, y_train, [str(d) for d in range(10)], epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, seed=args.seed, held_out_images=x_test,
                               held_out_labels=y_test, width=args.width,
                               log=lambda s: print(f"[{time.time() - t0:6.0f}s] {s}", flush=True))
    seconds = time.time() - t0

    out = Path(args.out)
    source = (f"MNIST train ({len(x_train)} digits) zero-padded to 32x32 (condgan.data.stacked_mnist.pad_digits); "
              f"scripts/train_mnist_classifier.py width={args.width} epochs={args.epochs} "
              f"batch_size={args.batch_size} lr={args.lr} seed={args.seed}; "
              f"MNIST test accuracy {acc:.4f}")
    save_evaluator(net, out, [str(d) for d in range(10)], acc, source)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"test accuracy: {acc:.4f} ({round(acc * len(x_test))}/{len(x_test)} MNIST test digits)")
    print(f"training time: {seconds:.0f} s ({seconds / 60:.1f} min)")
    print(f"wrote {out}: {out.stat().st_size} bytes, sha256 {digest}")
    if acc < MIN_ACCURACY:
        print(f"error: test accuracy {acc:.4f} is below {MIN_ACCURACY}; do not ship this file", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
