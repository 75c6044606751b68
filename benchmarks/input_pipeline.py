"""The input pipeline, side by side: images per second delivered as training batches on the training device.

Does the data keep a GPU busy? One run measures, at each size, on the same JPEG class folder (made from the
CIFAR-10 JPEGs in ../shared/data, upsampled, or random images without it):

- `jpeg-streaming`: condgan's streaming path (a class folder larger than data.max_resident_bytes: PIL decode
  in DataLoader workers);
- `torchvision`: the same folder through torchvision's ImageFolder + DataLoader, the same workers, the same
  resize (to the training size: a no-op here, as for condgan), shuffled (skipped when torchvision is absent);
- `store-resident`: `condgan prepare`'s store held on the device (data.max_resident_bytes larger than it);
- `store-mapped-cold` / `store-mapped`: the store memory-mapped (larger than data.max_resident_bytes), with
  the file dropped from the page cache first (every row read from disk) and then with it cached;

and `condgan prepare` itself (one-off, images/s). Each rate is set against what a training step consumes:
real images per step / seconds per step of the size's anchor configuration, BigGAN-128 at batch 256 with 2 D
steps (StudioGAN's ImageNet config) at 128 px and ReACGAN at 64 px, batch 1024, 1 D step (StudioGAN's
Tiny-ImageNet config). The step time is `--step-ms-128` / `--step-ms-64` when measured (`condgan bench`
on the GPU), else estimated from the step's FLOPs, counted here by condgan's own counter
(`condgan.bench.step_flops`, fp32, batch 2 and 4 extrapolated), at `--utilisation` (default 30%) of the
dense bf16 peak of `--peak-tflops` (default 989: H100/H200): the high end of the 10-30% the README assumes,
so the demand is not understated.

    python -m benchmarks.input_pipeline [--images 20000] [--sizes 64,128] [--workers N] [--device auto]
                                        [--work DIR] [--json FILE] [--quick]

`--quick` runs everything tiny (a few hundred random images at 64 px) for the test of this command; its rates
mean nothing. The JPEG folders and stores are kept in `--work` (default .cache/benchmarks/input_pipeline) and
reused when they match.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CIFAR = [ROOT.parent / "shared" / "data" / "cifar10_jpeg_bytes.npz", ROOT / ".carry" / "cifar10_train_jpeg.npz"]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# What one training step consumes, per size. GFLOP of one G step (with its D steps) per image of the batch and
# fixed (the batch-independent orthogonal regulariser), counted by condgan.bench.step_flops in fp32 on a CPU
# at batch 2 and 4 (2026-12-03; the difference is per image).
ANCHORS = {
    128: {"what": "BigGAN-128, batch 256, 2 D steps (StudioGAN's ImageNet config; preset imagenet128-biggan)",
          "batch": 256, "real_per_step": 512, "gflop_per_image": 514.79, "gflop_fixed": 591.03},
    64: {"what": "ReACGAN-64, batch 1024, 1 D step (StudioGAN's Tiny-ImageNet config; preset "
                 "tiny-imagenet-reacgan)", "batch": 1024, "real_per_step": 1024, "gflop_per_image": 52.64,
         "gflop_fixed": 0.0},
}


def need(size: int, args) -> dict | None:
    """Images per second the anchor's training step consumes on the GPU (None: no anchor at this size)."""
    a = ANCHORS.get(size)
    if a is None:
        return None
    measured = getattr(args, f"step_ms_{size}", None)
    if measured:
        seconds, how = measured / 1000, f"{measured:g} ms/step measured"
    else:
        tflop = (a["gflop_per_image"] * a["batch"] + a["gflop_fixed"]) / 1000
        seconds = tflop / (args.peak_tflops * args.utilisation)
        how = (f"{tflop:.1f} TFLOP/step at {args.utilisation:.0%} of {args.peak_tflops:g} TFLOP/s = "
               f"{seconds * 1000:.0f} ms/step (estimated)")
    return {"images_per_s": a["real_per_step"] / seconds, "anchor": a["what"], "step": how}


# ------------------------------------------------------------------------------------------------------------
# The data: a JPEG class folder at the training size, and its store


def _cifar_jpegs(path: Path | None, n: int):
    """(JPEG bytes, label) of n CIFAR-10 training images (cycled), or None without the file."""
    if path is None:
        return None
    with np.load(path) as f:
        buf, off, y = f["train_jpeg"], f["train_offsets"], f["y_train"]
    return [(buf[off[i % len(y)]:off[i % len(y) + 1]].tobytes(), int(y[i % len(y)])) for i in range(n)]


def _write_jpeg(task) -> None:
    """One JPEG (quality 90) at size x size: a CIFAR image upsampled (Lanczos), or noise seeded by its index."""
    i, size, src, dest = task
    if src is None:
        rng = np.random.default_rng(i)
        small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)  # smooth-ish, like photos
        im = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
    else:
        im = Image.open(io.BytesIO(src)).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    im.save(dest, quality=90)


def make_folder(root: Path, n: int, size: int, cifar: Path | None, workers: int) -> tuple[Path, str]:
    """root/jpeg-SIZE: n JPEGs in 10 class folders (reused when complete)."""
    folder = root / f"jpeg-{size}-{n}-{'cifar' if cifar else 'random'}"
    done = folder / "COMPLETE"
    what = f"{n} JPEGs (quality 90) at {size} px from " + (f"CIFAR-10 ({cifar.name}), upsampled" if cifar
                                                            else "random smooth noise")
    if done.is_file():
        return folder, what
    src = _cifar_jpegs(cifar, n)
    tasks = []
    for i in range(n):
        label = src[i][1] if src else i % 10
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        tasks.append((i, size, src[i][0] if src else None, folder / CLASSES[label] / f"{i:06d}.jpg"))
    with ProcessPoolExecutor(max(1, workers)) as pool:
        list(pool.map(_write_jpeg, tasks, chunksize=64))
    done.write_text("ok\n")
    return folder, what


# ------------------------------------------------------------------------------------------------------------
# Measuring


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(next_batch, batch: int, warmup: int, batches: int, device: torch.device) -> float:
    """Images/s over `batches` batches after `warmup` (workers started, caches of the loader filled)."""
    for _ in range(warmup):
        x = next_batch()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(batches):
        x = next_batch()
    _ = x.sum() if device.type == "cuda" else None  # the last batch is really there
    _sync(device)
    return batches * batch / (time.perf_counter() - t0)


def _loader_rate(data, args, device, **kw) -> float:
    from condgan.data import make_loader
    loader = make_loader(data, args.batch, device, seed=0, num_workers=args.workers, **kw)
    try:
        return rate(lambda: loader.next()[0], args.batch, args.warmup, args.batches, device)
    finally:
        loader.close()


def torchvision_rate(folder: Path, size: int, args, device) -> float | str:
    """torchvision's ImageFolder + DataLoader, the same workers and resize, batches normalised like condgan's."""
    try:
        from torchvision import datasets, transforms
    except ImportError:
        return "skipped: torchvision is not installed (pip install torchvision matching your torch)"
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    dl = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform=tf), batch_size=args.batch,
                                     shuffle=True, num_workers=args.workers, drop_last=True,
                                     pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    it = iter(dl)

    def next_batch():
        x, y = next(it)
        y.to(device, non_blocking=True)
        return x.to(device, non_blocking=True).float() / 127.5 - 1
    return rate(next_batch, args.batch, args.warmup, args.batches, device)


def _drop_from_page_cache(path: Path) -> bool:
    """Ask the kernel to forget the file's cached pages (clean pages: no privileges needed)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def _read_through(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def measure_size(size: int, args, device: torch.device, cifar: Path | None) -> dict:
    from condgan.data import load_images
    from condgan.data.prepare import prepare
    work = Path(args.work)
    folder, what = make_folder(work, args.images, size, cifar, args.workers)
    out = {"size": size, "data": what, "rates": {}, "notes": {}}
    store = work / f"store-{folder.name}"
    t0 = time.perf_counter()
    meta = prepare(folder, store, size, crop="none", workers=args.workers, progress=False, log=lambda s: None)
    prep_s = time.perf_counter() - t0
    out["prepare"] = {"images_per_s": args.images / prep_s if prep_s > 0.5 else None,
                      "store_bytes": int(np.prod(meta["shape"]))}
    r = out["rates"]
    print(f"  {size} px: {what}; store {out['prepare']['store_bytes'] / 2**20:.0f} MiB", flush=True)

    r["jpeg-streaming"] = _loader_rate(load_images(folder, max_resident_bytes=0), args, device)
    tv = torchvision_rate(folder, size, args, device)
    if isinstance(tv, str):
        out["notes"]["torchvision"] = tv
    else:
        r["torchvision"] = tv
    r["store-resident"] = _loader_rate(load_images(store, max_resident_bytes=1 << 62), args, device)
    images = store / "images.u8"
    if _drop_from_page_cache(images):
        r["store-mapped-cold"] = _loader_rate(load_images(store, max_resident_bytes=0), args, device)
    else:
        out["notes"]["store-mapped-cold"] = "skipped: no posix_fadvise on this system"
    _read_through(images)
    r["store-mapped"] = _loader_rate(load_images(store, max_resident_bytes=0), args, device)
    out["need"] = need(size, args)
    return out


# ------------------------------------------------------------------------------------------------------------
# Report


def table(results: list[dict]) -> str:
    lines = ["| px | path | images/s | × jpeg-streaming | × what the step consumes |", "|---|---|---|---|---|"]
    for res in results:
        base = res["rates"].get("jpeg-streaming")
        n = res.get("need")
        for path, v in res["rates"].items():
            vs_need = f"{v / n['images_per_s']:.2f}×" if n else "–"
            lines.append(f"| {res['size']} | {path} | {v:,.0f} | {v / base:.1f}× | {vs_need} |")
        for path, note in res["notes"].items():
            lines.append(f"| {res['size']} | {path} | {note} | | |")
        p = res["prepare"]["images_per_s"]
        lines.append(f"| {res['size']} | condgan prepare (once) | {f'{p:,.0f}' if p else 'under 0.5 s'} | | |")
    return "\n".join(lines)


def verdicts(results: list[dict]) -> list[str]:
    out = []
    for res in results:
        r, n = res["rates"], res.get("need")
        base = r["jpeg-streaming"]
        for path in ("store-resident", "store-mapped", "store-mapped-cold"):
            if path in r:
                ok = "meets" if r[path] >= 10 * base else "misses"
                keeps = (f"; {r[path] / n['images_per_s']:.1f}× what the step consumes" if n else "")
                out.append(f"{res['size']} px {path}: {r[path] / base:.1f}× the JPEG folder ({ok} the 10× goal)"
                           f"{keeps}")
        if n:
            out.append(f"{res['size']} px step: {n['anchor']}: {n['images_per_s']:,.0f} real images/s ({n['step']})")
            if base < n["images_per_s"]:
                out.append(f"{res['size']} px: the JPEG folder ({base:,.0f} images/s) cannot feed that step: the "
                           f"GPU would wait {100 * (1 - base / n['images_per_s']):.0f}% of the time")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=20000, help="JPEGs per size (default 20000)")
    p.add_argument("--sizes", default="64,128", help="training sizes in px, comma-separated (default 64,128)")
    p.add_argument("--batch", type=int, default=256, help="batch size of every path (default 256)")
    p.add_argument("--batches", type=int, default=40, help="batches timed per path, after --warmup (default 40)")
    p.add_argument("--warmup", type=int, default=5, help="batches before timing (default 5)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers of both JPEG paths and prepare's processes (default: all cores)")
    p.add_argument("--device", default="auto", help="the training device: auto (CUDA when visible), cpu, cuda")
    p.add_argument("--cifar", default=None, help="cifar10_jpeg_bytes.npz (default: ../shared/data or .carry; "
                                                 "random images without it)")
    p.add_argument("--random", action="store_true", help="random images even when the CIFAR-10 file is there")
    p.add_argument("--step-ms-128", type=float, default=None, dest="step_ms_128",
                   help="measured ms per step of BigGAN-128 at batch 256 with 2 D steps (default: estimated)")
    p.add_argument("--step-ms-64", type=float, default=None, dest="step_ms_64",
                   help="measured ms per step of the 64 px anchor (batch 1024, 1 D step; default: estimated)")
    p.add_argument("--utilisation", type=float, default=0.3, help="assumed fraction of peak for the estimate")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for the estimate (H100/H200)")
    p.add_argument("--work", default=str(ROOT / ".cache" / "benchmarks" / "input_pipeline"),
                   help="where the JPEG folders and stores go (reused when they match)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--quick", action="store_true", help="tiny: 400 random images at 64 px, batch 32 (a smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.sizes, args.batch, args.batches, args.warmup = 400, "64", 32, 4, 1
        args.random, args.workers = True, 2 if args.workers is None else args.workers
    if args.workers is None:
        args.workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    from condgan.training.loop import pick_device
    device = pick_device(args.device, "--device")
    torch.set_num_threads(1)  # the main process only moves batches: its intra-op threads would compete with
    # the decoding workers for the same cores (on a busy 2-core machine they made a CPU batch 30x slower)
    cifar = None if args.random else next((Path(c) for c in ([args.cifar] if args.cifar else CIFAR)
                                          if Path(c).is_file()), None)
    if args.cifar and cifar is None:
        raise SystemExit(f"input_pipeline: --cifar {args.cifar} does not exist")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.batch * (args.warmup + args.batches) > args.images:
        raise SystemExit(f"input_pipeline: {args.warmup + args.batches} batches of {args.batch} need at least "
                         f"{args.batch * (args.warmup + args.batches)} images (--images {args.images}): each path "
                         f"should read every image once")
    from condgan.environment import describe, numeric_environment
    cpu = describe(numeric_environment())  # every speed figure names the CPU it was measured on
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"Input pipeline on {device_name} ({device}; host {cpu}), {args.workers} workers, batch {args.batch}, "
          f"{args.batches} batches timed after {args.warmup}", flush=True)
    results = [measure_size(s, args, device, cifar) for s in sizes]
    print()
    print(table(results))
    print()
    for line in verdicts(results):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": device_name, "host": cpu, "cpus": os.cpu_count(), "workers": args.workers, "batch": args.batch,
            "batches": args.batches, "torch": torch.__version__, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
