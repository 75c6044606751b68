"""Crash safety: signals, divergence, untrusted files, full disks, SIGKILL at random moments."""
import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import condgan
from condgan.training import CheckpointError, DivergenceError, load_checkpoint
from condgan.training import checkpoint as checkpoint_module
from condgan.training import objective as objective_module
from condgan.training.checkpoint import list_checkpoints, save_checkpoint


def test_malicious_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "checkpoint-0000001.pt"
    torch.save({"format": "condgan-checkpoint-v1", "G": Evil()}, path)
    with pytest.raises(CheckpointError, match="checkpoint-0000001.pt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        condgan.load(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Evil()))  # the payload is real: plain unpickling does run it
    assert marker.exists()


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, folder / "checkpoint-0000001.pt")

    def full_disk(obj, f):
        f.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*checkpoint-0000001.pt is intact.*--resume"):
        save_checkpoint({"step": 2}, folder / "checkpoint-0000002.pt")
    monkeypatch.undo()
    assert [p.name for p in folder.iterdir()] == ["checkpoint-0000001.pt"]  # no temporary file left
    assert torch.equal(load_checkpoint(folder / "checkpoint-0000001.pt")["w"], torch.ones(3))


def _poison_g_loss(monkeypatch, at_steps):
    """Make G's loss NaN at the given steps (counted in calls to g_loss)."""
    original = objective_module.Objective.g_loss
    calls = {"n": 0}

    def g_loss(self, z, y, *real):
        loss, stats = original(self, z, y, *real)
        calls["n"] += 1
        if calls["n"] in at_steps:
            loss = loss * float("nan")
            stats = {**stats, "G/loss": loss.detach()}
        return loss, stats
    monkeypatch.setattr(objective_module.Objective, "g_loss", g_loss)


def test_nan_loss_stops_with_step_and_tensor_named(tmp_path, tiny_config, monkeypatch):
    _poison_g_loss(monkeypatch, at_steps={3})
    cfg = tiny_config({"train.steps": 8, "train.log_every": 4, "train.ckpt_every": 2})
    with pytest.raises(DivergenceError, match=r"non-finite G/loss first at step 3; non-finite values in "
                                              r"parameter G\..*\(detected at step 4\).*checkpoint-0000002.pt"):
        condgan.train(cfg, tmp_path / "run", progress=False)
    # the checkpoint written after the NaN (step 4 would be one) never exists: only finite ones are saved
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [2]


def test_nan_parameter_is_named(tmp_path, tiny_config, monkeypatch):
    from condgan.training import loop
    original = loop.train_step

    def step(t, loader):
        stats = original(t, loader)
        if t.step == 3:
            with torch.no_grad():
                t.D.blocks[0].conv1.bias[0] = float("inf")
        return stats
    monkeypatch.setattr(loop, "train_step", step)
    cfg = tiny_config({"train.steps": 8, "train.log_every": 3})
    with pytest.raises(DivergenceError, match=r"Training diverged: non-finite values in parameter "
                                              r"D\.blocks\.0\.conv1\.bias \(detected at step 3\)"):
        condgan.train(cfg, tmp_path / "run", progress=False)


def test_rollback_goes_on_with_lower_learning_rates(tmp_path, tiny_config, monkeypatch):
    _poison_g_loss(monkeypatch, at_steps={5})
    cfg = tiny_config({"train.steps": 8, "train.log_every": 2, "train.ckpt_every": 2,
                                  "train.on_divergence": "rollback", "train.rollback_lr_factor": 0.5})
    ckpt = condgan.train(cfg, tmp_path / "run", progress=False)
    state = load_checkpoint(ckpt)
    assert state["step"] == 8
    assert state["g_opt"]["param_groups"][0]["lr"] == pytest.approx(cfg.optim.g_lr * 0.5)
    rows = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    events = [r for r in rows if r.get("event") == "rollback"]
    assert len(events) == 1 and events[0]["step"] == 4 and "G/loss" in events[0]["reason"]
    assert all(np.isfinite(r["G/loss"]) for r in rows if "G/loss" in r)


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path, tiny_config):
    run = tmp_path / "run"
    condgan.train(tiny_config({"train.steps": 4, "train.log_every": 1, "train.ckpt_every": 2}), run,
                  progress=False)
    (run / "checkpoints" / "checkpoint-0000004.pt").unlink()  # as if killed after logging step 4
    with open(run / "stats.jsonl", "a") as f:
        f.write('{"step": 5, "D/lo')  # and mid-write
    condgan.train(tiny_config({"train.steps": 4, "train.log_every": 1, "train.ckpt_every": 2}), run,
                  resume=True, progress=False)
    steps = [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_resume_refuses_a_different_class_count(tmp_path, tiny_config):
    rng = np.random.default_rng(0)
    for k in (4, 5):
        np.savez(tmp_path / f"d{k}.npz", x=rng.integers(0, 256, (40, 16, 16, 1), dtype=np.uint8),
                 y=np.arange(40) % k)
    run = tmp_path / "run"
    condgan.train(tiny_config({"data.source": str(tmp_path / "d4.npz"), "train.steps": 2}), run,
                  progress=False)
    with pytest.raises(ValueError, match="num_classes=4.*num_classes=5"):
        condgan.train(tiny_config({"data.source": str(tmp_path / "d5.npz"), "train.steps": 4}), run,
                      resume=True, progress=False)


def _train_cmd(run, data, steps, *extra):
    overrides = {"data.source": str(data), "data.resolution": 16, "G.ch": 2, "D.ch": 2, "G.z_dim": 12,
                 "G.shared_dim": 8, "G.attn_res": 8, "D.attn_res": 8, "train.batch_size": 8, "train.d_steps": 1,
                 "train.steps": steps, "train.log_every": 1, "train.grid_every": 100000, "train.ckpt_every": 1,
                 "train.standing_stats": 1, "train.keep_ckpts": 2, "train.threads": 1}
    return [sys.executable, "-m", "condgan", "train", "--outdir", str(run), "--resume", "--no-progress",
            *[f"{k}={v}" for k, v in overrides.items()], *extra]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_and_says_how_to_resume(tmp_path, tiny_npz, sig):
    run = tmp_path / "run"
    cmd = _train_cmd(run, tiny_npz, 100000, "train.ckpt_every=100000")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "stats.jsonl").exists() or not (run / "stats.jsonl").read_text().strip():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    t0 = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert time.time() - t0 < 60
    assert proc.returncode == 128 + sig
    assert "--resume" in err and signal.Signals(sig).name in err
    ckpts = list_checkpoints(run / "checkpoints")
    assert len(ckpts) == 1 and load_checkpoint(ckpts[0][1])["step"] == ckpts[0][0] > 0


@pytest.mark.slow
def test_sigkill_at_random_moments_always_resumes(tmp_path, tiny_npz):
    """20 SIGKILLs at random moments (checkpoints are written every step, so many land mid-write); after each,
    every checkpoint on disk loads, the next start resumes from the newest one, and the run finally finishes."""
    run = tmp_path / "run"
    rnd = random.Random(0)
    newest = 0
    for trial in range(20):
        launched = time.time()
        proc = subprocess.Popen(_train_cmd(run, tiny_npz, 100000), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        config = run / "config.yaml"  # rewritten once start-up (imports, data, resume) is over
        while time.time() - launched < 120 and proc.poll() is None and \
                not (config.exists() and config.stat().st_mtime >= launched):
            time.sleep(0.05)
        time.sleep(rnd.uniform(0.0, 1.5))  # then kill at a random moment of training / checkpointing
        proc.kill()
        out, _ = proc.communicate()
        if newest:
            assert f"Resuming from {run / 'checkpoints' / f'checkpoint-{newest:07d}.pt'}" in out, out[-2000:]
        ckpts = list_checkpoints(run / "checkpoints")
        for step, path in ckpts:
            assert load_checkpoint(path)["step"] == step  # complete, never half-written
        newest = ckpts[-1][0] if ckpts else 0
    final = subprocess.run(_train_cmd(run, tiny_npz, newest + 2), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert list_checkpoints(run / "checkpoints")[-1][0] == newest + 2
    assert newest > 0
