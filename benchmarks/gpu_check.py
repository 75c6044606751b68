"""One prepared GPU run: every CUDA path smoke-tested and the speed figures measured in a single call.

A GPU is lent only now and then, for minutes, and starting it costs part of that time; so this is the one
command to give it, prepared and tested beforehand (issue 14)::

    python -m benchmarks.prepare_gpu_carry                       # here: fills .carry/ (CIFAR-10 JPEG bytes)
    python3 -m benchmarks.gpu_check --out $OUT                   # there: < 8 minutes, writes the report
    python -m benchmarks.gpu_check --out DIR --smoke             # anywhere: the same code on a CPU in seconds

Phases, each with a time box (the run as a whole keeps to `--budget` seconds): environment (versions,
peaks, measured matmul and copy ceilings), data (decode the carried JPEGs), smoke (fused Adam, torchrun +
SyncBatchNorm, resume, sampling, `condgan evaluate`), speed (`condgan.bench` on the three CIFAR presets,
fast and `train.plain=true`, R3GAN with and without R1 + R2), profile (top kernels of one step), agreement
(`condgan.speedcheck`'s fast-vs-plain loss curves), inception (feature throughput at batch 500, fp32
and bf16), quality (cifar10-biggan for a fixed 3 minutes, 10k samples brought back for FID on the CPU machine:
`python -m benchmarks.gpu_fid DIR`) and compile (`torch.compile` runs, last: they take what time is left).

Why a parent and a worker process: a case that crashes the process (a CUDA fault poisons the context) or
hangs is recorded as failed or timed out, and the worker is restarted for the cases after it, instead of the
run stopping. The parent imports no torch; it writes DIR/gpu-report.json and DIR/gpu-report.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
CARRY = ROOT / ".carry"
CARRY_DATA = "cifar10_train_jpeg.npz"
STUDIOGAN_S_PER_STEP = {"cifar10-biggan": 0.213, "cifar10-reacgan": 0.32}  # H100, as issue 14 quotes StudioGAN
QUALITY_CLOCK_S = 180
QUALITY_SAMPLES = 10_000
MiB = 2 ** 20

# Phase time boxes in seconds on the GPU, in run order. `reserve`: kept free by the phases before it.
# `None`: whatever the budget leaves. Sum of the expected times is about 6 minutes; the boxes are maxima.
PHASES = [("env", 25, False), ("data", 40, False), ("smoke", 70, False), ("speed", 100, False),
          ("profile", 25, False), ("agreement", 45, False), ("inception", 30, False),
          ("quality", QUALITY_CLOCK_S + 45, True), ("compile", None, False)]
SMOKE_BOX_S = 120  # every phase's box under --smoke (a slow CI machine must not time out)

# Tiny networks for --smoke (CPU, seconds); on the GPU the presets run at full size.
SMOKE_DATA = ["data.resolution=16", "train.batch_size=4", "train.d_steps=1"]
SMOKE_BIGGAN = ["G.ch=1", "D.ch=1", "G.z_dim=6", "G.shared_dim=4", "G.attn_res=0", "D.attn_res=0"]
SMOKE_SIZES = {
    "cifar10-biggan": SMOKE_BIGGAN,
    "cifar10-reacgan": SMOKE_BIGGAN + ["D.embed_dim=8"],
    "cifar10-r3gan": ["G.widths=[8,8,8]", "D.widths=[8,8,8]", "G.blocks=1", "D.blocks=1", "G.group_size=4",
                      "D.group_size=4", "G.z_dim=4", "G.shared_dim=4"],
    "stacked-mnist-r3gan": ["G.widths=[8,8,8,8]", "D.widths=[8,8,8,8]", "G.blocks=1", "D.blocks=1",
                           "G.group_size=4", "D.group_size=4", "G.z_dim=4", "train.batch_size=4"],
    "digits": ["G.ch=1", "D.ch=1", "G.z_dim=6", "G.shared_dim=4", "G.attn_res=0", "D.attn_res=0",
               "train.batch_size=8"],
}

CUDA_ONLY = "CUDA-only"


# ----------------------------------------------------------------------------------------------------------
# What a case sees.

@dataclasses.dataclass
class Ctx:
    out: Path
    work: Path
    carry: Path
    smoke: bool
    phase_deadline: float = 0.0

    @property
    def device(self) -> str:
        import torch
        return "cuda" if torch.cuda.is_available() and not self.smoke else "cpu"

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def left(self) -> float:
        return self.phase_deadline - time.time()

    @property
    def data(self) -> Path | None:
        """The decoded CIFAR-10 training set (npz with x, y) once the data phase has written it."""
        p = self.work / "cifar10_train.npz"
        return p if p.is_file() else None

    def overrides(self, preset: str) -> list[str]:
        """Data source (the decoded CIFAR-10 when present, else bench's random images) and, under --smoke,
        tiny networks."""
        cifar = preset.startswith("cifar10")
        o = [f"data.source={self.data}"] if self.data and cifar else []
        if self.smoke:
            o += (SMOKE_DATA if cifar else []) + SMOKE_SIZES[preset]
        return o


class Skip(Exception):
    """Raised by a case that cannot run here; the message is the reason."""


@dataclasses.dataclass
class Case:
    phase: str
    name: str
    fn: Callable[[Ctx], dict]
    est_s: float = 5.0     # expected GPU seconds: a case that cannot finish inside its box is skipped
    in_smoke: bool = True  # False: not run under --smoke (the reason is recorded)


# ----------------------------------------------------------------------------------------------------------
# Phase: environment.

def case_environment(ctx: Ctx) -> dict:
    import importlib.metadata as md

    import torch

    from condgan.bench import peak_tflops
    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                           "cpu_count": os.cpu_count(), "device": ctx.device,
                           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                           "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                           "cudnn_benchmark": torch.backends.cudnn.benchmark}
    packages = {}
    for name in ("numpy", "pillow", "pyyaml", "tqdm", "tensorboard", "scikit-learn", "scipy", "matplotlib"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            packages[name] = "missing"
    env["packages"] = packages
    if ctx.cuda:
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   sm_count=p.multi_processor_count, peak_bf16_tflops=peak_tflops(p.name, "bf16"),
                   peak_fp32_tflops=peak_tflops(p.name, "fp32"))
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            env["driver"] = f"nvidia-smi failed: {e}"
    manifest = ctx.carry / "MANIFEST.json"
    env["carry"] = json.loads(manifest.read_text()) if manifest.is_file() else "no .carry/MANIFEST.json"
    return env


def case_ceilings(ctx: Ctx) -> dict:
    """The two ceilings METHOD.md asks for, measured: a large bf16 (and fp32) matmul and a device copy."""
    import torch
    if not ctx.cuda:
        raise Skip(f"{CUDA_ONLY}: device ceilings")

    def timed(fn, reps: int) -> float:
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / reps
    out = {}
    for dtype, n, reps in ((torch.bfloat16, 8192, 20), (torch.float32, 8192, 5)):
        a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
        out[f"matmul_{str(dtype)[6:]}_tflops"] = round(2 * n**3 / timed(lambda: a @ b, reps) / 1e12, 1)
    x = torch.randn(2**28, device="cuda")  # 1 GiB
    y = torch.empty_like(x)
    out["copy_gb_per_s"] = round(2 * x.numel() * 4 / timed(lambda: y.copy_(x), 10) / 1e9, 0)
    out["note"] = "fp32 matmul with TF32 off (PyTorch's default); copy counts bytes read + written"
    return out


# ----------------------------------------------------------------------------------------------------------
# Phase: data.

def _decode_chunk(args: tuple[bytes, list[int]]) -> "Any":
    import numpy as np
    from PIL import Image
    buf, offsets = args
    return np.stack([np.asarray(Image.open(io.BytesIO(buf[offsets[i]:offsets[i + 1]])).convert("RGB"))
                     for i in range(len(offsets) - 1)])


def decode_jpeg_split(packed: dict, split: str = "train", workers: int | None = None):
    """(N, 32, 32, 3) uint8 from the JPEG-bytes layout of ../shared/data/cifar10_jpeg_bytes.npz
    (`{split}_jpeg` concatenated files, `{split}_offsets` N + 1 boundaries); in parallel, chunk by chunk."""
    import numpy as np
    buf, off = packed[f"{split}_jpeg"].tobytes(), [int(v) for v in packed[f"{split}_offsets"]]
    n = len(off) - 1
    step = max(1, -(-n // (4 * (workers or os.cpu_count() or 1))))
    chunks = [(buf[off[i]:off[min(i + step, n)]], [o - off[i] for o in off[i:min(i + step, n) + 1]])
              for i in range(0, n, step)]
    workers = min(workers or os.cpu_count() or 1, len(chunks))
    if workers > 1:  # spawned, not forked: the caller may hold CUDA and torch's threads
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_decode_chunk, chunks))
    else:
        parts = [_decode_chunk(c) for c in chunks]
    return np.concatenate(parts)


def write_smoke_jpegs(path: Path, n: int = 64) -> None:
    """A tiny file in the carried layout (random 32 px images as JPEG bytes) for --smoke."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(n):
        f = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(f, format="JPEG", quality=75)
        blobs.append(np.frombuffer(f.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    np.savez(path, train_jpeg=np.concatenate(blobs), train_offsets=offsets, y_train=np.arange(n) % 10)


def case_decode(ctx: Ctx) -> dict:
    import numpy as np
    src = ctx.carry / CARRY_DATA
    if ctx.smoke:
        src = ctx.work / "smoke_jpeg.npz"
        write_smoke_jpegs(src)
    elif not src.is_file():
        raise RuntimeError(f"{src} is missing: run `python -m benchmarks.prepare_gpu_carry` before the GPU run "
                           "and name .carry in the run's carry list (later phases fall back to random images)")
    start = time.perf_counter()
    with np.load(src) as f:
        packed = {k: f[k] for k in f.files}
    x = decode_jpeg_split(packed, "train", workers=2 if ctx.smoke else None)
    y = packed["y_train"].astype(np.int64)
    np.savez(ctx.work / "cifar10_train.npz.tmp.npz", x=x, y=y)
    os.replace(ctx.work / "cifar10_train.npz.tmp.npz", ctx.work / "cifar10_train.npz")
    return {"source": str(src), "images": int(len(x)), "shape": list(x.shape[1:]),
            "seconds": round(time.perf_counter() - start, 2)}


# ----------------------------------------------------------------------------------------------------------
# Phase: smoke (the CUDA paths that are not a plain training step).

def _train(cfg_preset: str, overrides: list[str], run: Path, resume: bool = False) -> Path:
    import condgan
    from condgan.config import load_config
    return condgan.train(load_config(cfg_preset, overrides), run, resume=resume, force=not resume, progress=False)


def _quiet_run(ctx: Ctx, steps: int, ckpt_every: int = 2) -> list[str]:
    return [f"train.steps={steps}", "train.log_every=1", f"train.grid_every={10**8}", f"train.ckpt_every={ckpt_every}",
            f"train.device={ctx.device}", "train.channels_last=true"]


def case_fused_adam(ctx: Ctx) -> dict:
    import torch

    from condgan.bench import _bench_data
    from condgan.config import load_config
    from condgan.data import make_loader
    from condgan.training.loop import Trainer, train_step
    if not ctx.cuda:
        raise Skip(f"{CUDA_ONLY}: condgan uses fused Adam only on CUDA")
    out = {}
    for name, extra in (("fast", ["train.channels_last=true"]), ("plain", ["train.plain=true"])):
        cfg = load_config("cifar10-biggan", ctx.overrides("cifar10-biggan") + extra)
        data, _ = _bench_data(cfg)
        dev = torch.device("cuda")
        t = Trainer.build(cfg, data.num_classes, data.resolution, data.channels, dev)
        loader = make_loader(data, cfg.train.batch_size, dev, resident="yes")
        stats = train_step(t, loader)
        out[name] = {"fused": bool(t.g_opt.defaults.get("fused")), "d_fused": bool(t.d_opt.defaults.get("fused")),
                     "finite": all(bool(torch.isfinite(v).all()) for v in stats.values())}
    if not (out["fast"]["fused"] and out["fast"]["d_fused"] and not out["plain"]["fused"]):
        raise AssertionError(f"expected fused Adam on the fast path only: {out}")
    if not (out["fast"]["finite"] and out["plain"]["finite"]):
        raise AssertionError(f"non-finite losses: {out}")
    return out


def ddp_probe(out_json: Path, work: Path, overrides: list[str]) -> None:
    """Run under torchrun: train a few steps through condgan.train and report how the networks were wrapped
    (SyncBatchNorm count, DDP) as the trainer saw them."""
    import torch.distributed as dist
    from torch import nn

    from condgan.training import loop
    seen = {}
    build = loop.Trainer.build.__func__

    def spy(cls, *a, **k):
        t = build(cls, *a, **k)
        seen.update(syncbn=sum(isinstance(m, nn.SyncBatchNorm) for m in t.G.modules()),
                    batchnorm=sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in t.G.modules()),
                    ddp=type(t.objective.D_train).__name__ if hasattr(t.objective, "D_train") else None,
                    world_size=t.dist.world_size, distributed=t.dist.enabled)
        if dist.is_initialized():
            seen["backend"] = dist.get_backend()
        return t
    loop.Trainer.build = classmethod(spy)
    ckpt = _train("cifar10-biggan", overrides, work / "ddp-run")
    seen["checkpoint"] = ckpt.name
    if not dist.is_initialized() or dist.get_rank() == 0:
        out_json.write_text(json.dumps(seen))


def case_torchrun(ctx: Ctx) -> dict:
    if not ctx.cuda:
        raise Skip(f"{CUDA_ONLY}: SyncBatchNorm exists only on CUDA (tests/test_distributed.py runs torchrun on CPU)")
    out_json = ctx.work / "ddp.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "benchmarks.gpu_check", "--ddp-probe", str(out_json), "--work", str(ctx.work), "--",
           *ctx.overrides("cifar10-biggan"), *_quiet_run(ctx, 3)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_child_env(), capture_output=True, text=True,
                          timeout=max(10, ctx.left() - 2))
    if proc.returncode != 0 or not out_json.is_file():
        raise RuntimeError(f"torchrun exited {proc.returncode}: {_tail(proc.stdout + proc.stderr)}")
    seen = json.loads(out_json.read_text())
    if not seen.get("distributed") or seen.get("syncbn", 0) == 0:
        raise AssertionError(f"expected a DDP run with SyncBatchNorm in G: {seen}")
    return seen


def case_resume(ctx: Ctx) -> dict:
    """n steps, stop, resume to 2n; against 2n uninterrupted steps (bit-exact on CPU; on CUDA cuDNN may pick
    non-deterministic kernels, so the difference is recorded)."""
    import torch

    from condgan.training.checkpoint import load_checkpoint
    o, n = ctx.overrides("cifar10-biggan"), 1 if ctx.smoke else 2
    _train("cifar10-biggan", o + _quiet_run(ctx, n, n), ctx.work / "resume-a")
    a = _train("cifar10-biggan", o + _quiet_run(ctx, 2 * n, n), ctx.work / "resume-a", resume=True)
    b = _train("cifar10-biggan", o + _quiet_run(ctx, 2 * n, n), ctx.work / "resume-b")
    sa, sb = load_checkpoint(a), load_checkpoint(b)
    if sa["step"] != 2 * n:
        raise AssertionError(f"resumed run ended at step {sa['step']}, expected {2 * n}")
    diff = max(float((sa["G"][k].float() - sb["G"][k].float()).abs().max()) for k in sa["G"]
               if sa["G"][k].is_floating_point())
    if not ctx.cuda and diff != 0:
        raise AssertionError(f"resume is not exact on CPU: max |G weight difference| {diff}")
    return {"steps": 2 * n, "max_abs_G_weight_diff_vs_uninterrupted": diff, "finite": bool(torch.isfinite(
        torch.tensor(diff)))}


def case_sample(ctx: Ctx) -> dict:
    import numpy as np

    from condgan.cli import main
    run = ctx.work / "resume-b"
    if not run.is_dir():
        raise Skip("needs the checkpoint of the resume case, which did not run")
    n = 20 if ctx.smoke else 1000
    start = time.perf_counter()
    rc = main(["sample", str(run), "--n", str(n), "--device", ctx.device, "--out", str(ctx.work / "sample.npz")])
    seconds = time.perf_counter() - start
    main(["sample", str(run), "--n", "20", "--device", ctx.device, "--truncation", "0.5",
          "--out", str(ctx.work / "sample.png")])
    with np.load(ctx.work / "sample.npz") as f:
        images = f["images"]
    if rc != 0 or images.shape[0] != n or images.dtype != np.uint8:
        raise AssertionError(f"condgan sample returned {rc}, images {images.shape} {images.dtype}")
    return {"images": int(n), "shape": list(images.shape[1:]), "seconds_incl_load": round(seconds, 2)}


def case_evaluate(ctx: Ctx) -> dict:
    """`condgan evaluator train` and `condgan evaluate` on this device, in a domain evaluator's features (the
    FID Inception weights do not travel; the inception phase times that network)."""
    from condgan.cli import main
    run, data = ctx.work / "resume-b", ctx.data
    if not run.is_dir() or data is None:
        raise Skip("needs the resume case's checkpoint and the decoded data")
    ev, res = ctx.work / "evaluator.pt", (["--resolution", "16"] if ctx.smoke else [])
    rc = main(["evaluator", "train", "--data", str(data), "--out", str(ev), "--epochs", "1", "--width", "8",
               "--device", ctx.device, "--force", *res])
    if rc != 0:
        raise AssertionError(f"condgan evaluator train returned {rc}")
    n = 40 if ctx.smoke else 2000
    rc = main(["evaluate", str(run), "--evaluator", str(ev), "--metrics", "fid,accuracy", "--num-samples", str(n),
               "--device", ctx.device, "--no-cache", "--json", str(ctx.work / "evaluate.json")])
    result = json.loads((ctx.work / "evaluate.json").read_text())
    if rc != 0 or "fid" not in result:
        raise AssertionError(f"condgan evaluate returned {rc}: {result}")
    return {k: result[k] for k in ("fid", "accuracy", "feature_network") if k in result}


# ----------------------------------------------------------------------------------------------------------
# Phases: speed and compile (condgan.bench: a smoke test and a measurement at once).

SPEED = [  # case, preset, overrides: fast = channels-last + fused Adam (+ bf16); plain = train.plain=true
    ("biggan-fast-fp32", "cifar10-biggan", ["train.channels_last=true"]),
    ("biggan-plain", "cifar10-biggan", ["train.plain=true"]),
    ("biggan-fast-bf16", "cifar10-biggan", ["train.channels_last=true", "train.precision=bf16"]),
    ("reacgan-fast-fp32", "cifar10-reacgan", ["train.channels_last=true"]),
    ("reacgan-plain", "cifar10-reacgan", ["train.plain=true"]),
    ("reacgan-fast-bf16", "cifar10-reacgan", ["train.channels_last=true", "train.precision=bf16"]),
    ("r3gan-fast-bf16-r1r2", "cifar10-r3gan", ["train.channels_last=true"]),
    # r3gan_stacked_mnist --scale gpu's step (40k of them): its GPU-hours, which 60 CPU-minutes cannot replace
    ("stackedmnist-r3gan-bf16", "stacked-mnist-r3gan", ["train.channels_last=true"]),
    ("r3gan-fast-bf16-no-r1r2", "cifar10-r3gan", ["train.channels_last=true", "loss.r1_gamma=0", "loss.r2_gamma=0"]),
    ("r3gan-fast-fp32-r1r2", "cifar10-r3gan", ["train.channels_last=true", "train.precision=fp32"]),
    ("r3gan-plain-r1r2", "cifar10-r3gan", ["train.plain=true"]),
]
IN_SMOKE = {"biggan-fast-fp32", "biggan-plain", "reacgan-fast-bf16", "r3gan-fast-bf16-r1r2", "r3gan-fast-bf16-no-r1r2",
            "stackedmnist-r3gan-bf16"}
COMPILE = [(f"{n.split('-')[0]}-compile-{p}", preset, [o for o in extra if "precision" not in o]
            + [f"train.precision={p}", "train.compile=default"])
           for p in ("bf16", "fp32") for n, preset, extra in SPEED if "fast-bf16" in n and "no-r1r2" not in n]


def bench_case(preset: str, extra: list[str]) -> Callable[[Ctx], dict]:
    def run(ctx: Ctx) -> dict:
        import gc

        import torch

        from condgan.bench import bench
        if ctx.smoke and any("compile" in o and not o.endswith("=off") for o in extra):
            raise Skip("torch.compile is not run under --smoke (minutes of compiling on a CPU)")
        steps, warmup = (1, 0) if ctx.smoke else (10, 3)
        try:
            r = bench(preset, ctx.overrides(preset) + extra, steps=steps, warmup=warmup, device=ctx.device)
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        ref = STUDIOGAN_S_PER_STEP.get(preset)
        if ref:
            r["studiogan_ms_per_step"] = ref * 1000
            r["vs_studiogan"] = round(ref * 1000 / r["ms_per_step"], 3)
        r["overrides"] = extra
        return r
    return run


# ----------------------------------------------------------------------------------------------------------
# Phase: profile.

def case_profile(preset: str, extra: list[str], trace_name: str | None) -> Callable[[Ctx], dict]:
    def run(ctx: Ctx) -> dict:
        import torch
        from torch.profiler import ProfilerActivity, profile

        from condgan.bench import _bench_data
        from condgan.config import load_config
        from condgan.data import make_loader
        from condgan.training.loop import Trainer, train_step
        cfg = load_config(preset, ctx.overrides(preset) + extra)
        dev = torch.device(ctx.device)
        data, _ = _bench_data(cfg)
        t = Trainer.build(cfg, data.num_classes, data.resolution, data.channels, dev)
        loader = make_loader(data, cfg.train.batch_size, dev, hflip=cfg.data.hflip, resident="yes")
        for _ in range(1 if ctx.smoke else 3):
            train_step(t, loader)
        if ctx.cuda:
            torch.cuda.synchronize()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if ctx.cuda else [])
        with profile(activities=acts) as prof:
            train_step(t, loader)
            if ctx.cuda:
                torch.cuda.synchronize()
        return {"overrides": extra, **summarise_profile(prof, ctx.cuda), **_save_trace(prof, ctx, trace_name)}
    return run


def summarise_profile(prof, cuda: bool, top: int = 15) -> dict:
    """Top kernels (CUDA) or operators (CPU) of one step by self time."""
    rows = []
    for e in prof.key_averages():
        if cuda:
            if getattr(e, "device_type", None) is None or "CUDA" not in str(e.device_type):
                continue
            us = getattr(e, "self_device_time_total", None)
            us = us if us is not None else e.self_cuda_time_total
        else:
            us = e.self_cpu_time_total
        if us > 0:
            rows.append({"name": e.key[:110], "calls": int(e.count), "ms": us / 1000})
    total = sum(r["ms"] for r in rows) or 1.0
    rows.sort(key=lambda r: -r["ms"])
    for r in rows:
        r["pct"] = round(100 * r["ms"] / total, 1)
        r["ms"] = round(r["ms"], 3)
    return {"what": "CUDA kernels" if cuda else "CPU operators", "total_self_ms": round(total, 2),
            "kernel_count": sum(r["calls"] for r in rows), "top": rows[:top]}


def _save_trace(prof, ctx: Ctx, name: str | None) -> dict:
    if not name:
        return {}
    raw = ctx.work / "trace.json"
    prof.export_chrome_trace(str(raw))
    dest = ctx.out / f"{name}.json.gz"
    with open(raw, "rb") as f, gzip.open(dest, "wb") as g:
        shutil.copyfileobj(f, g)
    raw.unlink()
    if dest.stat().st_size > 16 * MiB:
        dest.unlink()
        return {"trace": "not kept: over 16 MiB gzipped"}
    return {"trace": dest.name}


# ----------------------------------------------------------------------------------------------------------
# Phase: agreement (condgan.speedcheck's comparison, also `scripts/check_fast_path.py`).

def case_agreement(ctx: Ctx) -> dict:
    from condgan.speedcheck import compare
    fast = ["train.channels_last=true"] + (["train.precision=bf16"] if ctx.cuda else [])
    steps, window = (4, 2) if ctx.smoke else (200, 20)
    o = ctx.overrides("digits") if ctx.smoke else []
    figures = compare("digits", o + fast, steps, window, ctx.device)
    worst = max(v for k, v in figures.items() if "windowed" in k)
    result = {"preset": "digits", "fast_options": fast, "steps": steps, "window": window, **figures,
              "threshold": 0.10}
    if not worst <= 0.10:  # tests/test_speed_options.py's bound
        raise AssertionError(f"fast and plain loss curves differ by {worst:.3g} of the loss range (> 0.10): {result}")
    return result


# ----------------------------------------------------------------------------------------------------------
# Phase: inception throughput.

def case_inception(ctx: Ctx) -> dict:
    import numpy as np
    import torch

    from condgan.metrics.fid import fid_from_features
    from condgan.metrics.inception import FIDInceptionV3
    from condgan.metrics.weights import WeightsNotFoundError, load_feature_network
    try:
        if ctx.smoke:  # hashing and converting the 81 MB file costs seconds on a CPU
            raise WeightsNotFoundError("not looked up under --smoke")
        net, weights = load_feature_network(device=ctx.device), "the FID Inception weights"
    except (WeightsNotFoundError, OSError):
        torch.manual_seed(0)
        net = load_feature_network(FIDInceptionV3(), device=ctx.device)
        weights = "random weights (the 81 MB FID weights cannot travel in the 64 MiB carry): speed is exact, FID a proxy"
    batch, reps, n_fid = (2, 1, 2) if ctx.smoke else (500, 4, 1000)
    if ctx.data:
        with np.load(ctx.data) as f:
            x = f["x"][: max(batch, 2 * n_fid)]
    else:
        x = np.random.default_rng(0).integers(0, 256, (max(batch, 2 * n_fid), 32, 32, 3), dtype=np.uint8)
    images = torch.from_numpy(x).permute(0, 3, 1, 2).to(ctx.device)
    out: dict[str, Any] = {"weights": weights, "batch": batch}
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not ctx.cuda:
            out[precision] = {"skipped": f"{CUDA_ONLY}: bf16 autocast is ~50x slower than fp32 on a CPU"}
            continue
        amp = torch.autocast(ctx.device, dtype=torch.bfloat16, enabled=precision == "bf16")

        def features(xs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), amp:
                return net(xs)["pool"].float()
        features(images[:batch])
        if ctx.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            features(images[:batch])
        if ctx.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        feats = torch.cat([features(images[i:i + batch]) for i in range(0, 2 * n_fid, batch)]).double().cpu().numpy()
        if ctx.smoke:  # a 2048-d FID is an eigen-decomposition of seconds on a CPU: the code path is what counts
            feats = feats[:, :16]
        fid = fid_from_features(feats[:n_fid], feats[n_fid:2 * n_fid])
        out[precision] = {"images_per_sec": round(reps * batch / seconds, 1), "fid_half_vs_half": fid}
    if "fid_half_vs_half" in out.get("bf16", {}):
        d = abs(out["bf16"]["fid_half_vs_half"] - out["fp32"]["fid_half_vs_half"])
        out["bf16_fid_abs_diff"] = d
        out["bf16_fid_unchanged_to_1e-3"] = bool(d <= 1e-3)
    return out


# ----------------------------------------------------------------------------------------------------------
# Phase: quality clock.

def case_quality(ctx: Ctx) -> dict:
    """cifar10-biggan (channels-last, fp32) for a fixed wall-clock time from the moment training starts, then
    10k class-balanced samples of the EMA generator written to DIR for FID on the CPU machine."""
    import numpy as np

    from condgan.cli import main
    if ctx.data is None:
        raise Skip("no decoded CIFAR-10 (the data phase failed): a clock on random images means nothing")
    clock = 3.0 if ctx.smoke else min(QUALITY_CLOCK_S, ctx.left() - 40)
    if clock < 60 and not ctx.smoke:
        raise Skip(f"only {ctx.left():.0f} s left in the phase: a quality clock under 60 s is not worth it")
    run = ctx.work / "quality"
    overrides = ctx.overrides("cifar10-biggan") + ["train.channels_last=true", "train.device=" + ctx.device,
                                                   f"train.steps={10**8}", "train.log_every=100" if not ctx.smoke
                                                   else "train.log_every=1", f"train.grid_every={10**8}",
                                                   f"train.ckpt_every={10**8}"]
    cmd = [sys.executable, "-m", "condgan", "train", "--preset", "cifar10-biggan", "--outdir", str(run), "--force",
           "--no-progress", *overrides]
    log = open(ctx.work / "quality.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_child_env(), stdout=log, stderr=subprocess.STDOUT)
    launched = time.time()
    while not (run / "config.yaml").is_file():  # written once data and networks are ready
        if proc.poll() is not None or time.time() - launched > 120:
            proc.kill()
            raise RuntimeError(f"training did not start: {_tail((ctx.work / 'quality.log').read_text())}")
        time.sleep(0.2)
    started = time.time()
    while time.time() - started < clock and proc.poll() is None:
        time.sleep(0.2)
    stopped = time.time()
    proc.send_signal(signal.SIGTERM)  # condgan finishes the step, writes a checkpoint and exits 143
    rc = proc.wait(timeout=120)
    log.close()
    if rc not in (0, 143):
        raise RuntimeError(f"training exited {rc}: {_tail((ctx.work / 'quality.log').read_text())}")
    rows = [json.loads(r) for r in (run / "stats.jsonl").read_text().splitlines() if r.strip()]
    rows = [r for r in rows if "D/loss" in r]
    from condgan.training.checkpoint import list_checkpoints
    from condgan.config import load_config
    step = list_checkpoints(run / "checkpoints")[-1][0]
    cfg = load_config(str(run / "config.yaml"))
    n = 40 if ctx.smoke else QUALITY_SAMPLES
    samples = ctx.work / "quality-samples.npz"
    if main(["sample", str(run), "--n", str(n), "--device", ctx.device, "--seed", "0", "--out", str(samples)]):
        raise RuntimeError("condgan sample failed")
    main(["sample", str(run), "--n", "100", "--device", ctx.device, "--seed", "1",
          "--out", str(ctx.out / "quality-grid.png")])
    with np.load(samples) as f:
        images, labels = f["images"], f["labels"]
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(images)), 2)):  # 5,000 images = 15.4 MB < 16 MiB
        dest = ctx.out / f"quality-samples-{i}.npz"
        np.savez_compressed(dest, images=images[part], labels=labels[part])
        files.append({"file": dest.name, "images": int(len(part)), "mib": round(dest.stat().st_size / MiB, 2)})
    last = rows[-1] if rows else {}
    return {"preset": "cifar10-biggan", "options": "channels-last, fp32, eager (the preset otherwise)",
            "clock_s": round(stopped - started, 1), "startup_s": round(started - launched, 1),
            "steps": int(step), "kimg": round(step * cfg.train.batch_size * cfg.train.d_steps / 1000, 1),
            "ms_per_step": round(1000 * (stopped - started) / max(step, 1), 1),
            "last_log": {k: v for k, v in last.items() if isinstance(v, (int, float))},
            "samples": files, "grid": "quality-grid.png", "truncation": None,
            "fid_follow_up": "python -m benchmarks.gpu_fid RESULTS_DIR   (on the CPU machine; FID-10k vs the "
                             "50k JPEG CIFAR-10 train images)",
            "studiogan_reference": "FID 45.4 at 2k steps, 28.6 at 10k (StudioGAN's BigGAN CIFAR-10 curve, issue 14)"}


# ----------------------------------------------------------------------------------------------------------
# The plan: every case, in order.

def plan(phases: str | None = None) -> list[Case]:
    """Every case in run order; `phases` (comma-separated names) keeps only those phases."""
    cases = [Case("env", "environment", case_environment, 5),
             Case("env", "ceilings", case_ceilings, 5),
             Case("data", "decode-cifar10", case_decode, 20),
             Case("smoke", "fused-adam", case_fused_adam, 8),
             Case("smoke", "torchrun-syncbn", case_torchrun, 25),
             Case("smoke", "resume", case_resume, 12),
             Case("smoke", "sample", case_sample, 4),
             Case("smoke", "evaluate", case_evaluate, 15)]
    r3 = 14  # R3GAN steps are several times BigGAN's
    cases += [Case("speed", n, bench_case(p, o), r3 if "r3gan" in n else 6, in_smoke=n in IN_SMOKE)
              for n, p, o in SPEED]
    cases += [Case("profile", "profile-biggan", case_profile("cifar10-biggan", ["train.channels_last=true"],
                                                             "profile-biggan"), 6),
              Case("profile", "profile-r3gan", case_profile("cifar10-r3gan", ["train.channels_last=true"], None), 8,
                   in_smoke=False),
              Case("agreement", "fast-vs-plain", case_agreement, 30),
              Case("inception", "inception-throughput", case_inception, 15),
              Case("quality", "quality-clock", case_quality, 100)]
    cases += [Case("compile", n, bench_case(p, o), 60) for n, p, o in COMPILE]
    if phases:
        keep = {x.strip() for x in phases.split(",") if x.strip()}
        unknown = keep - {p for p, _, _ in PHASES}
        if unknown:
            raise SystemExit(f"--phases: unknown {', '.join(sorted(unknown))}; phases: "
                             f"{', '.join(p for p, _, _ in PHASES)}")
        cases = [c for c in cases if c.phase in keep]
    return cases


# ----------------------------------------------------------------------------------------------------------
# Worker: runs the plan from a given case, appending events to WORK/events.jsonl.

def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(text: str, n: int = 1500) -> str:
    return text[-n:].strip()


def _events(work: Path) -> list[dict]:
    p = work / "events.jsonl"
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
            pass
    return out


def _emit(work: Path, **event: Any) -> None:
    with open(work / "events.jsonl", "a") as f:
        f.write(json.dumps({"t": time.time(), **event}, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _phase_deadline(phase: str, now: float, start: float, budget: float, smoke: bool,
                    present: set[str]) -> tuple[float, str | None]:
    """When this phase must end; a reason when it cannot start (later reserved phases keep their boxes)."""
    if smoke:
        return now + SMOKE_BOX_S, None
    names = [p[0] for p in PHASES]
    i = names.index(phase)
    reserved = sum(box for name, box, keep in PHASES[i + 1:] if keep and name in present)
    avail = start + budget - now - reserved
    box = PHASES[i][1]
    limit = avail if box is None else min(box, avail)
    if limit < 5:
        return now, (f"global budget: {start + budget - now:.0f} s of {budget:.0f} s left, {reserved} s of it "
                     "kept for the quality clock")
    return now + limit, None


def run_worker(args: argparse.Namespace) -> int:
    ctx = Ctx(Path(args.out), Path(args.work), Path(args.carry), args.smoke)
    cases = plan(args.phases)
    deadlines = {e["phase"]: (e["deadline"], e.get("reason")) for e in _events(ctx.work) if e["event"] == "phase"}
    for case in cases[args.start_at:]:
        if case.phase not in deadlines:
            deadlines[case.phase] = _phase_deadline(case.phase, time.time(), args.t0, args.budget, args.smoke,
                                                    {c.phase for c in cases})
            _emit(ctx.work, event="phase", phase=case.phase, deadline=deadlines[case.phase][0],
                  reason=deadlines[case.phase][1])
        ctx.phase_deadline, phase_reason = deadlines[case.phase]
        _emit(ctx.work, event="start", case=case.name, phase=case.phase)
        if os.environ.get("CONDGAN_GPU_CHECK_CRASH") == case.name:  # tests: a case that kills its process
            os._exit(9)
        status, detail, reason = "skipped", {}, None
        began = time.time()
        if phase_reason:
            reason = phase_reason
        elif args.smoke and not case.in_smoke:
            reason = "--smoke runs one or two variants per preset; this one differs only in its options"
        elif not args.smoke and ctx.left() < case.est_s:
            reason = f"phase time box: {max(ctx.left(), 0):.0f} s left, the case needs about {case.est_s:.0f} s"
        else:
            try:
                detail, status = case.fn(ctx), "pass"
            except Skip as e:
                reason = str(e)
            except Exception as e:  # recorded, and the run goes on
                status, reason = "fail", f"{type(e).__name__}: {e}"
                detail = {"traceback": _tail(traceback.format_exc(), 3000)}
        _emit(ctx.work, event="end", case=case.name, phase=case.phase, status=status, reason=reason,
              seconds=round(time.time() - began, 2), detail=detail)
        if status == "fail" and ctx.cuda and not _cuda_healthy():
            return 3  # a CUDA fault poisons this process: the parent starts a fresh worker for the next case
    return 0


def _cuda_healthy() -> bool:
    try:
        import torch
        torch.cuda.synchronize()
        torch.zeros(1, device="cuda").item()
        return True
    except Exception:
        return False


# ----------------------------------------------------------------------------------------------------------
# Parent: starts workers, enforces the time boxes, writes the report.

def run_parent(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="condgan-gpu-check-"))
    if work == out or out in work.parents:
        raise SystemExit(f"--work {work} must not be inside --out {out}: only the report files come back")
    work.mkdir(parents=True, exist_ok=True)
    (work / "events.jsonl").unlink(missing_ok=True)
    budget = args.budget if args.budget else (900 if args.smoke else 450)
    t0 = time.time()
    cases = plan(args.phases)
    names = [c.name for c in cases]
    log = open(work / "worker.log", "ab")
    start_at, grace, ended, shown = 0, 20, -1, 0
    while start_at < len(cases):
        now_ended = sum(e["event"] == "end" for e in _events(work))
        if now_ended == ended:  # the last worker recorded nothing: it cannot start; do not loop
            for c in cases[start_at:]:
                _emit(work, event="end", case=c.name, phase=c.phase, status="fail", seconds=0, detail={},
                      reason="the worker process could not run: see gpu-check.log")
            break
        ended = now_ended
        cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--worker", "--out", str(out), "--work", str(work),
               "--carry", str(args.carry), "--start-at", str(start_at), "--t0", str(t0), "--budget", str(budget),
               *(["--phases", args.phases] if args.phases else [])]
        env = _child_env() | ({"OMP_NUM_THREADS": "1"} if args.smoke else {})  # tiny ops: threads only contend
        proc = subprocess.Popen(cmd + (["--smoke"] if args.smoke else []), cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        killed = None
        while proc.poll() is None:
            time.sleep(0.25)
            ev = _events(work)
            shown = _show_progress(ev, shown, t0)
            phases = {e["phase"]: e["deadline"] for e in ev if e["event"] == "phase"}
            running = _running(ev)
            limit = min(t0 + budget + grace, phases.get(running["phase"], 1e18) + grace if running else 1e18)
            if time.time() > limit:
                killed = "global budget" if time.time() > t0 + budget + grace else "phase time box"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        ev = _events(work)
        running = _running(ev)
        if running is None:  # finished cleanly (or died between cases)
            done = {e["case"] for e in ev if e["event"] == "end"}
            rest = [i for i, n in enumerate(names) if n not in done]
            if proc.returncode == 0 or not rest:
                break
            start_at = rest[0]
            continue
        i = names.index(running["case"])
        log.flush()
        why = (f"timed out: {killed} reached" if killed else
               f"worker process exited {proc.returncode} during the case: "
               f"{_tail((work / 'worker.log').read_bytes().decode(errors='replace'), 1200)}")
        _emit(work, event="end", case=running["case"], phase=running["phase"], status="fail", reason=why,
              seconds=round(time.time() - running["t"], 2), detail={})
        if killed:  # the rest of the phase is skipped with the same reason
            for c in cases[i + 1:]:
                if c.phase != running["phase"] and killed == "phase time box":
                    break
                _emit(work, event="end", case=c.name, phase=c.phase, status="skipped", reason=f"{killed} reached",
                      seconds=0, detail={})
        done = {e["case"] for e in _events(work) if e["event"] == "end"}
        rest = [j for j, n in enumerate(names) if n not in done]
        if not rest:
            break
        start_at = rest[0]
    log.close()
    report = build_report(_events(work), cases, args.smoke, budget, time.time() - t0, out)
    shutil.copyfile(work / "worker.log", out / "gpu-check.log")
    _trim(out / "gpu-check.log", 4 * MiB)
    (out / "gpu-report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "gpu-report.md").write_text(render_markdown(report))
    print(render_markdown(report, short=True))
    if not args.keep_work and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _show_progress(events: list[dict], shown: int, t0: float) -> int:
    """One line per finished case, so the device tool's output tail tells where a cut-short run was."""
    ends = [e for e in events if e["event"] == "end"]
    for e in ends[shown:]:
        print(f"[{e['t'] - t0:6.1f} s] {e['phase']:>9} {e['case']:<26} {e['status']:<7} {e['seconds']:>7} s  "
              f"{(e.get('reason') or '')[:150]}", flush=True)
    return len(ends)


def _running(events: list[dict]) -> dict | None:
    started = {e["case"]: e for e in events if e["event"] == "start"}
    for e in events:
        if e["event"] == "end":
            started.pop(e["case"], None)
    return next(iter(started.values()), None)


def _trim(path: Path, limit: int) -> None:
    data = path.read_bytes()
    if len(data) > limit:
        path.write_bytes(b"[... log cut to its last bytes ...]\n" + data[-limit:])


# ----------------------------------------------------------------------------------------------------------
# Report.

def build_report(events: list[dict], cases: list[Case], smoke: bool, budget: float, wall: float, out: Path) -> dict:
    ends = {}
    for e in events:
        if e["event"] == "end":
            ends.setdefault(e["case"], e)
    rows = []
    for c in cases:
        e = ends.get(c.name, {"status": "skipped", "reason": "not reached", "seconds": 0, "detail": {}})
        rows.append({"phase": c.phase, "case": c.name, "status": e["status"], "seconds": e["seconds"],
                     "reason": e.get("reason"), "detail": e.get("detail") or {}})
    by = {r["case"]: r for r in rows}
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    return {"kind": "smoke (CPU, tiny networks)" if smoke else "gpu", "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "budget_s": budget, "wall_s": round(wall, 1),
            "counts": {s: sum(r["status"] == s for r in rows) for s in ("pass", "fail", "skipped")},
            "environment": by.get("environment", {}).get("detail", {}),
            "ceilings": by.get("ceilings", {}).get("detail", {}),
            "cases": rows, "files": files + ["gpu-report.json", "gpu-report.md", "gpu-check.log"]}


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def render_markdown(report: dict, short: bool = False) -> str:
    rows = report["cases"]
    by = {r["case"]: r for r in rows}
    env = report["environment"] or {}
    lines = [f"# condgan GPU check ({report['kind']}, {report['created']})", "",
             f"{report['counts']['pass']} passed, {report['counts']['fail']} failed, "
             f"{report['counts']['skipped']} skipped; {report['wall_s']} s of a {report['budget_s']} s budget.", ""]
    if env:
        lines += [f"Environment: {env.get('gpu', env.get('device'))}, driver {env.get('driver', '–')}, torch "
                  f"{env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}; peak bf16/fp32 "
                  f"{env.get('peak_bf16_tflops', '–')}/{env.get('peak_fp32_tflops', '–')} TFLOP/s (data sheet); "
                  f"measured {report['ceilings'] or '–'}.", ""]
    speed = [r for r in rows if r["phase"] in ("speed", "compile") and r["status"] == "pass"]
    lines += ["## Speed (ms per G step, its D steps included)", "",
              "| case | batch × D steps | precision | ms/step | StudioGAN (H100) | images/s | peak GiB | GFLOP/step "
              "| TFLOP/s | MFU |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in speed:
        d = r["detail"]
        ref = f"{d['studiogan_ms_per_step']:.0f} ms ({d['vs_studiogan']}×)" if d.get("studiogan_ms_per_step") else "–"
        prec = "fp32 (plain)" if d["options"]["plain"] else d["precision"]
        lines.append(f"| {r['case']} | {d['batch_size']} × {d['d_steps']} | {prec} | {d['ms_per_step']} | {ref} | "
                     f"{d['images_per_sec']} | {d['peak_memory_gib']} | {d['gflop_per_step']} | "
                     f"{_fmt(d['achieved_tflops'], 2)} | {_fmt(d['mfu'], 3)} |")
    r1 = by.get("r3gan-fast-bf16-r1r2", {}).get("detail", {})
    r0 = by.get("r3gan-fast-bf16-no-r1r2", {}).get("detail", {})
    if r1.get("ms_per_step") and r0.get("ms_per_step"):
        lines += ["", f"R1 + R2 on cifar10-r3gan: {r1['ms_per_step']} vs {r0['ms_per_step']} ms per step "
                      f"({r1['ms_per_step'] / r0['ms_per_step']:.2f}×)."]
    sm = by.get("stackedmnist-r3gan-bf16", {}).get("detail", {})
    if sm.get("ms_per_step"):
        lines += ["", f"r3gan_stacked_mnist --scale gpu (the stacked-mnist-r3gan preset): {sm['ms_per_step']} ms "
                      f"per step, so {sm['run_hours']} GPU-hours of training per arm (4 arms)."]
    if short:
        lines += [""]
    q = by.get("quality-clock", {})
    if q.get("status") == "pass":
        d = q["detail"]
        lines += ["", "## Quality clock", "",
                  f"cifar10-biggan ({d['options']}): {d['steps']} steps ({d['kimg']} kimg) in {d['clock_s']} s "
                  f"({d['ms_per_step']} ms/step, start-up {d['startup_s']} s); samples "
                  f"{', '.join(f['file'] for f in d['samples'])}. FID-10k: `{d['fid_follow_up']}`. "
                  f"Reference: {d['studiogan_reference']}."]
    a = by.get("fast-vs-plain", {})
    if a.get("status") == "pass":
        d = a["detail"]
        diffs = ", ".join(f"{k} {v:.3g}" for k, v in d.items() if "diff" in k)
        lines += ["", "## Fast vs plain", "", f"digits, {d['steps']} steps, {' '.join(d['fast_options'])}: {diffs}."]
    inc = by.get("inception-throughput", {})
    if inc.get("status") == "pass":
        d = inc["detail"]
        lines += ["", "## Inception features", "", f"batch {d['batch']}, {d['weights']}: " + "; ".join(
            f"{p} " + (f"{d[p]['images_per_sec']} images/s" if "images_per_sec" in d[p] else d[p]["skipped"])
            for p in ("fp32", "bf16"))
            + (f"; |FID bf16 − fp32| = {d['bf16_fid_abs_diff']:.2e}" if "bf16_fid_abs_diff" in d else "") + "."]
    for name in ("profile-biggan", "profile-r3gan"):
        p = by.get(name, {})
        if p.get("status") == "pass" and not short:
            d = p["detail"]
            lines += ["", f"## Profile: {name} ({d['what']}, one step, {d['total_self_ms']} ms self time, "
                          f"{d['kernel_count']} launches)", "", "| name | calls | ms | % |", "|---|---|---|---|"]
            lines += [f"| `{t['name']}` | {t['calls']} | {t['ms']} | {t['pct']} |" for t in d["top"]]
    lines += ["", "## Cases", "", "| phase | case | status | s | reason / error |", "|---|---|---|---|---|"]
    for r in rows:
        reason = (r["reason"] or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {r['phase']} | {r['case']} | {r['status']} | {r['seconds']} | {reason[:300]} |")
    lines += ["", "Files: " + ", ".join(report["files"]), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="where the report, the samples and the trace go (8 files at most)")
    p.add_argument("--smoke", action="store_true", help="the same code on a CPU in seconds: tiny networks")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds for the whole run (default 450 on a GPU: under 8 minutes with the grace times)")
    p.add_argument("--work", help="scratch folder (default: a temporary one, deleted at the end)")
    p.add_argument("--carry", default=str(CARRY), help="the carried folder (default .carry)")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary scratch folder")
    p.add_argument("--phases", help="run only these phases, e.g. env,data,compile (a second call with the time "
                                    "left); data is needed by every phase that trains on CIFAR-10")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--ddp-probe", help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ddp_probe:
        ddp_probe(Path(args.ddp_probe), Path(args.work), args.overrides)
        return 0
    if not args.out:
        p.error("--out DIR is required")
    if args.worker:
        return run_worker(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
