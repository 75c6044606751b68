"""torchrun + DistributedDataParallel on CPU (gloo): two processes at global batch B train the same weights as
one process at batch B, only the main process writes files, and the checkpoint loads in a single process.

Tolerance: the two runs differ only in the order of floating-point sums (a gradient averaged over two
half-batch means vs one full-batch mean), so weights agree to ~1e-6; the test allows 1e-4 absolute after
3 steps (Adam's normalised update can amplify a 1e-7 gradient difference on near-zero gradients)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import condgan
from condgan.config import load_config
from condgan.training import load_checkpoint

# R3GAN backbone (no BatchNorm: cross-replica BN needs CUDA), relativistic loss, R1 + R2 (double backward
# under DDP) and ReACGAN's D2D-CE (negatives gathered across processes with gradients).
OVERRIDES = {
    "G.arch": "r3gan", "D.arch": "r3gan", "G.widths": [16, 16, 16], "D.widths": [16, 16, 16], "G.z_dim": 8,
    "G.shared_dim": 8, "D.head": "embedding", "D.embed_dim": 8, "loss.cond": "d2dce", "loss.cond_lambda": 1.0,
    "loss.adversarial": "rpgan", "loss.r1_gamma": 0.5, "loss.r2_gamma": 0.5, "data.resolution": 16,
    "train.batch_size": 8, "train.d_steps": 1, "train.steps": 3, "train.log_every": 1, "train.grid_every": 3,
    "train.ckpt_every": 3, "train.ema_start": 0, "train.ema_decay": 0.9, "train.standing_stats": 0,
    "train.grid_classes": 2, "train.grid_per_class": 1, "train.device": "cpu", "train.threads": 1,
}


def _torchrun(run, data, nproc=2):
    args = [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in OVERRIDES.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m",
           "condgan", "train", "--outdir", str(run), "--no-progress", f"data.source={data}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow  # torchrun launch
def test_two_processes_train_the_same_weights_as_one(tmp_path, tiny_npz):
    _torchrun(tmp_path / "ddp", tiny_npz)
    condgan.train(load_config("digits", {**OVERRIDES, "data.source": str(tiny_npz)}), tmp_path / "one", progress=False)
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "checkpoint-0000003.pt")
    b = load_checkpoint(tmp_path / "one" / "checkpoints" / "checkpoint-0000003.pt")
    for net in ("G", "D", "G_ema"):
        for k in b[net]:
            torch.testing.assert_close(a[net][k], b[net][k], atol=1e-4, rtol=1e-4, msg=f"{net}.{k}")
    rows = lambda run: [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]  # noqa: E731
    for ra, rb in zip(rows(tmp_path / "ddp"), rows(tmp_path / "one"), strict=True):
        for key in ("D/loss", "G/loss", "D/r1", "D/r2", "D/cond"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), (ra["step"], key)
    # the distributed run's checkpoint samples in a single process
    images = condgan.load(tmp_path / "ddp").sample([0, 1, 2, 3], seed=0)
    assert images.shape == (4, 16, 16, 1) and images.dtype == torch.uint8


@pytest.mark.slow  # torchrun launch
def test_only_the_main_process_writes(tmp_path, tiny_npz):
    run = tmp_path / "ddp"
    proc = _torchrun(run, tiny_npz)
    written = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and "tensorboard" not in p.parts)
    assert written == ["checkpoints/checkpoint-0000003.pt", "config.yaml", "grids/grid-0000003.png", "stats.jsonl"]
    assert len(list((run / "tensorboard").iterdir())) == 1  # one event file: rank 0's
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # one row per step, not one per process
    assert proc.stdout.count("Resuming") == 0


@pytest.mark.slow  # torchrun launch
def test_resume_under_ddp_continues_a_single_process_run(tmp_path, tiny_npz):
    """A single-process checkpoint resumes under torchrun (and lands where one process would)."""
    first = load_config("digits", {**OVERRIDES, "data.source": str(tiny_npz), "train.steps": 2, "train.ckpt_every": 2})
    condgan.train(first, tmp_path / "mixed", progress=False)
    args = [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in OVERRIDES.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "condgan",
           "train", "--outdir", str(tmp_path / "mixed"), "--resume", "--no-progress", f"data.source={tiny_npz}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Resuming from" in proc.stdout and proc.stdout.count("Resuming from") == 1
    condgan.train(load_config("digits", {**OVERRIDES, "data.source": str(tiny_npz)}), tmp_path / "one", progress=False)
    a = load_checkpoint(tmp_path / "mixed" / "checkpoints" / "checkpoint-0000003.pt")
    b = load_checkpoint(tmp_path / "one" / "checkpoints" / "checkpoint-0000003.pt")
    for k in b["G"]:
        torch.testing.assert_close(a["G"][k], b["G"][k], atol=1e-4, rtol=1e-4, msg=k)


def test_sharded_sampling_reassembles_in_single_process_order(tmp_path, tiny_npz):
    from condgan.metrics.evaluate import extract, generator_batches, interleave

    class Pixels(torch.nn.Module):  # a stand-in feature network: the images themselves
        def forward(self, x):
            return {"pool": x.flatten(1).float(), "logits": x.float().mean((1, 2, 3))[:, None]}
    run = tmp_path / "one"
    condgan.train(load_config("digits", {**OVERRIDES, "data.source": str(tiny_npz), "train.steps": 1}), run,
                  progress=False)
    sampler = condgan.load(run)
    whole = extract(Pixels(), generator_batches(sampler, 23, None, 0, 4), torch.device("cpu"), keep_images=True)
    parts = [extract(Pixels(), generator_batches(sampler, 23, None, 0, 4, shard=(r, 3)), torch.device("cpu"),
                     keep_images=True) for r in range(3)]
    assert sum(len(p.pool) for p in parts) == 23 and all(len(p.pool) < 23 for p in parts)
    merged = interleave(parts, 4)
    for field in ("pool", "logits", "labels", "images"):
        np.testing.assert_array_equal(getattr(merged, field), getattr(whole, field))


@pytest.mark.slow  # torchrun launch
def test_evaluation_during_distributed_training_matches_one_process(tmp_path, tiny_npz):
    from condgan.cli import main
    evaluator = tmp_path / "evaluator.pt"
    assert main(["evaluator", "train", "--data", str(tiny_npz), "--out", str(evaluator), "--epochs", "1",
                 "--width", "4"]) == 0
    extra = {"train.eval_every": 3, "train.eval_samples": 40, "train.evaluator": str(evaluator),
             "train.eval_metrics": "fid,is"}
    OVERRIDES.update(extra)
    try:
        _torchrun(tmp_path / "ddp", tiny_npz)
        condgan.train(load_config("digits", {**OVERRIDES, "data.source": str(tiny_npz)}), tmp_path / "one",
                      progress=False)
    finally:
        for k in extra:
            OVERRIDES.pop(k)
    metric = lambda run: [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()  # noqa: E731
                          if "metric/fid" in x][0]
    a, b = metric(tmp_path / "ddp"), metric(tmp_path / "one")
    assert a["metric/num_fake"] == b["metric/num_fake"] == 40
    assert a["metric/fid"] == pytest.approx(b["metric/fid"], rel=1e-3)
    assert (tmp_path / "ddp" / "checkpoints" / "best.pt").is_file()


@pytest.mark.slow  # torchrun launch
def test_an_existing_run_stops_every_process(tmp_path, tiny_npz):
    run = tmp_path / "ddp"
    run.mkdir()
    (run / "config.yaml").write_text("x: 1\n")
    args = [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in OVERRIDES.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "condgan",
           "train", "--outdir", str(run), "--no-progress", f"data.source={tiny_npz}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0 and proc.stderr.count("already exists") >= 2  # both processes said why
    assert (run / "config.yaml").read_text() == "x: 1\n"



@pytest.mark.slow  # torchrun launch
def test_a_non_finite_value_seen_by_one_process_stops_every_process(tmp_path, tiny_npz):
    """Only process 1 sees a NaN weight (injected after step 2); both must stop at the same check with the
    divergence message instead of process 0 waiting forever in its next collective."""
    script = tmp_path / "diverge.py"
    script.write_text(
        "import json, sys\n"
        "import torch\n"
        "import condgan\n"
        "from condgan.config import load_config\n"
        "from condgan.training import loop\n"
        "step = loop.train_step\n"
        "def poisoned(t, loader):\n"
        "    stats = step(t, loader)\n"
        "    if t.step == 2 and t.dist.rank == 1:\n"
        "        with torch.no_grad():\n"
        "            next(t.D.parameters()).fill_(float('nan'))\n"
        "    return stats\n"
        "loop.train_step = poisoned\n"
        "overrides = json.loads(sys.argv[2])\n"
        "try:\n"
        "    condgan.train(load_config('digits', overrides), sys.argv[1], progress=False)\n"
        "except condgan.training.guards.DivergenceError as e:\n"
        "    print(f'rank {torch.distributed.get_rank() if torch.distributed.is_initialized() else -1} '\n"
        "          f'stopped: {e}', flush=True)\n"
        "    sys.exit(3)\n")
    overrides = {**OVERRIDES, "data.source": str(tiny_npz), "train.steps": 6, "train.log_every": 2,
                 "train.ckpt_every": 100, "train.grid_every": 100}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(tmp_path / "run"), json.dumps(overrides)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("stopped: Training diverged") == 2, out[-3000:]  # both processes, same message kind
    assert "another process found non-finite values" in out and "non-finite" in out


def test_d2dce_gradient_under_ddp_is_the_single_process_one_and_studiogans_is_one_over_world():
    """scripts/compare_ddp_d2dce.py: condgan's gathered-keys D2D-CE gives the single-process gradient under
    DDP; StudioGAN's gather (backward keeps the local slice only) gives 1/W of it."""
    proc = subprocess.run([sys.executable, "scripts/compare_ddp_d2dce.py", "--world", "2"], capture_output=True,
                          text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ratio = {line.split()[0]: float(line.split("=")[1].split("x")[0]) for line in proc.stdout.splitlines()
             if "x single-process" in line}
    assert abs(ratio["condgan"] - 1.0) < 1e-5 and abs(ratio["studiogan"] - 0.5) < 1e-5, proc.stdout
