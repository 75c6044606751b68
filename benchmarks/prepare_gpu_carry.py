"""Fill the git-ignored `.carry/` folder for the GPU run and check that what travels fits in 64 MiB.

The GPU machine receives the checkout (tracked files and untracked files git does not ignore) plus the
git-ignored folders named in the run's `carry` list, 64 MiB in all, and nothing beside it: `../shared` is not
there. So the CIFAR-10 JPEG copy goes with it, training split only (the 10,000 test JPEGs are not needed
there, and leaving them out keeps the total under the limit); the device decodes it in a few seconds.

No Python wheels are carried: the device's image already has every condgan dependency (numpy, pillow, pyyaml,
tqdm, tensorboard, scikit-learn, scipy, matplotlib; the device tool's KINDS.md lists them), and the kit runs
condgan from the checkout (`python3 -m benchmarks.gpu_check` puts it on the path), so nothing is installed.
The FID Inception weights (81 MB) cannot travel; FID is computed afterwards here (`benchmarks.gpu_fid`).

    python -m benchmarks.prepare_gpu_carry [--src ../shared/data/cifar10_jpeg_bytes.npz] [--carry .carry]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = ROOT.parent / "shared" / "data" / "cifar10_jpeg_bytes.npz"
DATA_NAME = "cifar10_train_jpeg.npz"   # what benchmarks.gpu_check reads
LIMIT_MIB = 64
MiB = 2 ** 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def travelling_files(root: Path, carry: Path) -> dict[str, int]:
    """Bytes per path of what the device tool sends: tracked and untracked-not-ignored files, shared/ inside
    the checkout, and the carried folder."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    sizes = {}
    for name in filter(None, listed):
        p = root / name
        if p.is_file() and not p.is_symlink():
            sizes[name] = p.stat().st_size
    for folder in (root / "shared", carry):
        if folder.is_dir():
            for p in folder.rglob("*"):
                if p.is_file():
                    sizes[str(p.relative_to(root))] = p.stat().st_size
    return sizes


def write_carry(src: Path, carry: Path) -> Path:
    if not src.is_file():
        raise SystemExit(f"prepare_gpu_carry: '{src}' not found: pass --src PATH/cifar10_jpeg_bytes.npz")
    try:
        with np.load(src) as f:
            arrays = {k: f[k] for k in ("train_jpeg", "train_offsets", "y_train")}
    except KeyError as e:
        raise SystemExit(f"prepare_gpu_carry: '{src}' has no key {e}; expected train_jpeg, train_offsets, y_train "
                         "(the layout of ../shared/data/cifar10_jpeg_bytes.npz)") from None
    off = arrays["train_offsets"]
    if len(off) != len(arrays["y_train"]) + 1 or int(off[-1]) != len(arrays["train_jpeg"]):
        raise SystemExit(f"prepare_gpu_carry: '{src}': train_offsets ({len(off)}) must be len(y_train) + 1 "
                         f"({len(arrays['y_train']) + 1}) and end at len(train_jpeg)")
    carry.mkdir(parents=True, exist_ok=True)
    dest = carry / DATA_NAME
    np.savez(dest, **arrays)  # JPEG bytes do not compress further
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    (carry / "MANIFEST.json").write_text(json.dumps({
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit or None, "source": src.name,
        "source_sha256": sha256(src), "data": DATA_NAME, "images": int(len(arrays["y_train"])),
        "data_sha256": sha256(dest)}, indent=2) + "\n")
    return dest


def check_limit(root: Path, carry: Path, limit_mib: float) -> tuple[int, list[tuple[str, int]]]:
    sizes = travelling_files(root, carry)
    return sum(sizes.values()), sorted(sizes.items(), key=lambda kv: -kv[1])[:8]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default=str(DEFAULT_SRC), help="cifar10_jpeg_bytes.npz (default ../shared/data/)")
    p.add_argument("--carry", default=str(ROOT / ".carry"), help="the git-ignored folder to fill (default .carry)")
    p.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    p.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    root, carry = Path(args.root), Path(args.carry).resolve()
    ignored = subprocess.run(["git", "check-ignore", "-q", str(carry / "MANIFEST.json")], cwd=root).returncode == 0
    if not ignored:
        raise SystemExit(f"prepare_gpu_carry: '{carry}' is not git-ignored; it would travel twice (as part of the "
                         "checkout too). Add it to .gitignore.")
    dest = write_carry(Path(args.src), carry)
    total, largest = check_limit(root, carry, args.limit_mib)
    print(f"wrote {dest} ({dest.stat().st_size / MiB:.1f} MiB)")
    print(f"travels: {total / MiB:.1f} MiB of {args.limit_mib:g} MiB (checkout + {carry.name}); largest:")
    for name, size in largest:
        print(f"  {size / MiB:7.2f} MiB  {name}")
    if total > args.limit_mib * MiB:
        print(f"prepare_gpu_carry: error: {total / MiB:.1f} MiB would travel, over the {args.limit_mib:g} MiB "
              "limit; remove or git-ignore the largest untracked files above", file=sys.stderr)
        return 1
    rel = carry.relative_to(root) if carry.is_relative_to(root) else carry
    print(f"ok: run with carry=[\"{rel}\"]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
