"""Does the fast path learn what the plain path learns? The command line of `condgan.speedcheck.compare`:
trains a preset twice from the same seed, with the speed options given and with `train.plain=true`, and
prints how far the windowed D and G loss curves differ, relative to the plain run's loss range.

    python scripts/check_fast_path.py --preset digits --steps 200 train.channels_last=true
    python scripts/check_fast_path.py --preset cifar10-biggan --steps 200 --device cuda train.precision=bf16 \\
        train.channels_last=true train.compile=default data.source=cifar-10-python.tar.gz
"""
from __future__ import annotations

import argparse

from condgan.speedcheck import compare


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="digits")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("overrides", nargs="*", help="the fast path's options, key=value")
    args = p.parse_args()
    for k, v in compare(args.preset, args.overrides, args.steps, args.window, args.device).items():
        print(f"{k:>40}: {v:.4g}")


if __name__ == "__main__":
    main()
