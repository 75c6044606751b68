"""The GPU kit must not rot between the rare GPU sessions: its --smoke mode runs every phase on the CPU.

One smoke run (tiny networks, ~20 s on 2 cores) is shared by the tests below; a case is made to crash its
worker process (CONDGAN_GPU_CHECK_CRASH) to show that the run records it and carries on with the next case.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import gpu_check, prepare_gpu_carry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out, work = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("work")
    env = dict(os.environ, CONDGAN_GPU_CHECK_CRASH="fused-adam")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(out), "--work", str(work),
                           "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu-report.json").read_text())
    return out, report, {r["case"]: r for r in report["cases"]}


def test_smoke_exercises_every_phase(smoke):
    out, report, cases = smoke
    phases = {p for p, _, _ in gpu_check.PHASES}
    ran = {r["phase"] for r in report["cases"] if r["status"] == "pass"}
    assert phases - ran == {"compile"}, f"phases with no passing case: {phases - ran}"
    failed = {n: r["reason"] for n, r in cases.items() if r["status"] == "fail" and n != "fused-adam"}
    assert not failed, failed
    # what cannot run on a CPU is skipped with the reason, never silently
    for name in ("ceilings", "torchrun-syncbn", "biggan-compile-bf16"):
        assert cases[name]["status"] == "skipped" and cases[name]["reason"], cases[name]
    assert "CUDA-only" in cases["torchrun-syncbn"]["reason"]
    md = (out / "gpu-report.md").read_text()
    assert "| compile | biggan-compile-bf16 | skipped |" in md and "## Speed" in md


def test_a_crashing_case_is_recorded_and_the_run_goes_on(smoke):
    _, _, cases = smoke
    assert cases["fused-adam"]["status"] == "fail"
    assert "exited" in cases["fused-adam"]["reason"]
    assert cases["resume"]["status"] == "pass"  # the next case, in a fresh worker


def test_results_fit_what_comes_back(smoke):
    out, report, cases = smoke
    files = [p for p in out.iterdir() if p.is_file()]
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files)
    parts = sorted(out.glob("quality-samples-*.npz"))
    assert len(parts) == 2
    with np.load(parts[0]) as a, np.load(parts[1]) as b:
        images = np.concatenate([a["images"], b["images"]])
        labels = np.concatenate([a["labels"], b["labels"]])
    assert images.dtype == np.uint8 and images.shape[1:] == (16, 16, 3) and len(images) == len(labels) == 40
    q = cases["quality-clock"]["detail"]
    assert q["steps"] >= 1 and q["samples"][0]["file"] == "quality-samples-0.npz"
    speed = cases["biggan-fast-fp32"]["detail"]
    assert speed["ms_per_step"] > 0 and speed["gflop_per_step"] > 0 and speed["data"].startswith("real")
    assert cases["fast-vs-plain"]["detail"]["D/loss max windowed diff / range"] <= 0.10
    assert cases["profile-biggan"]["detail"]["top"], "profile has no rows"


def test_report_sizes_the_stacked_mnist_gpu_run_from_its_measured_step(smoke):
    out, _, cases = smoke
    d = cases["stackedmnist-r3gan-bf16"]["detail"]
    assert abs(d["run_hours"] - d["ms_per_step"] * 40_000 / 3.6e6) < 2e-3  # the preset's 40k steps
    assert f"{d['run_hours']} GPU-hours of training per arm" in (out / "gpu-report.md").read_text()


def test_decode_matches_the_shared_decoder(tmp_path):
    """The kit's parallel decoder gives the same pixels as a one-by-one PIL decode."""
    from PIL import Image
    import io
    src = tmp_path / "j.npz"
    gpu_check.write_smoke_jpegs(src, n=12)
    with np.load(src) as f:
        packed = {k: f[k] for k in f.files}
    x = gpu_check.decode_jpeg_split(packed, "train", workers=2)
    off = packed["train_offsets"]
    ref = np.stack([np.asarray(Image.open(io.BytesIO(packed["train_jpeg"][off[i]:off[i + 1]].tobytes())).convert("RGB"))
                    for i in range(12)])
    assert x.dtype == np.uint8 and np.array_equal(x, ref)


def test_carry_is_written_and_the_limit_enforced(tmp_path, capsys):
    src = tmp_path / "cifar10_jpeg_bytes.npz"
    gpu_check.write_smoke_jpegs(src, n=8)
    carry = ROOT / ".carry" / "test-tmp"  # inside the git-ignored folder, as the check requires
    try:
        assert prepare_gpu_carry.main(["--src", str(src), "--carry", str(carry)]) == 0
        with np.load(carry / prepare_gpu_carry.DATA_NAME) as f:
            assert set(f.files) == {"train_jpeg", "train_offsets", "y_train"} and len(f["y_train"]) == 8
        assert json.loads((carry / "MANIFEST.json").read_text())["images"] == 8
        assert prepare_gpu_carry.main(["--src", str(src), "--carry", str(carry), "--limit-mib", "0.001"]) == 1
        assert "over the 0.001 MiB limit" in capsys.readouterr().err
    finally:
        import shutil
        shutil.rmtree(carry, ignore_errors=True)
    with pytest.raises(SystemExit, match="not found"):
        prepare_gpu_carry.main(["--src", str(tmp_path / "missing.npz"), "--carry", str(carry)])


def test_time_boxes_keep_the_quality_clock_and_the_budget():
    t0, budget, all_phases = 1000.0, 450.0, {p for p, _, _ in gpu_check.PHASES}
    deadline, reason = gpu_check._phase_deadline("env", t0, t0, budget, False, all_phases)
    assert reason is None and deadline == t0 + 25
    # late in the run, a phase before the quality clock gets only what the clock does not need
    deadline, _ = gpu_check._phase_deadline("agreement", t0 + 200, t0, budget, False, all_phases)
    assert deadline == t0 + budget - (gpu_check.QUALITY_CLOCK_S + 45)
    # without the quality phase (--phases), nothing is reserved; out of budget, a phase says why it cannot start
    deadline, _ = gpu_check._phase_deadline("agreement", t0 + 200, t0, budget, False, {"agreement"})
    assert deadline == t0 + 200 + 45
    _, reason = gpu_check._phase_deadline("inception", t0 + 440, t0, budget, False, all_phases)
    assert reason and "global budget" in reason
    with pytest.raises(SystemExit, match="unknown"):
        gpu_check.plan("speed,warp")
    assert {c.phase for c in gpu_check.plan("env,compile")} == {"env", "compile"}
