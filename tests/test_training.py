"""End-to-end training on CPU with a tiny BigGAN: run folder, checkpoints, exact resume, CLI, sampling."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import condgan
from condgan.cli import main
from condgan.training import CheckpointError, RunExistsError, load_checkpoint
from condgan.training.checkpoint import list_checkpoints


def test_train_writes_run_folder(tmp_path, tiny_config):
    run = tmp_path / "run"
    ckpt = condgan.train(tiny_config(), run, progress=False)
    assert ckpt == run / "checkpoints" / "checkpoint-0000004.pt"
    assert (run / "config.yaml").is_file()
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(np.isfinite(r["D/loss"]) and np.isfinite(r["G/loss"]) for r in rows)
    assert list((run / "tensorboard").iterdir())
    grid = Image.open(run / "grids" / "grid-0000004.png")
    assert grid.size == (2 * 16 + 1, 10 * 16 + 9)  # 10 class rows x 2 samples of 16 px, 1 px gaps
    state = load_checkpoint(ckpt)
    assert state["step"] == 4 and state["data"]["num_classes"] == 10
    assert {"G", "D", "G_ema", "g_opt", "d_opt", "loader", "rng", "config"} <= set(state)


def test_resume_is_exact(tmp_path, tiny_config):
    """N steps, stop, resume for M more == N + M uninterrupted steps (weights bitwise, losses equal)."""
    full = tiny_config({"train.steps": 6, "train.ckpt_every": 3, "train.log_every": 1})
    condgan.train(full, tmp_path / "a", progress=False)
    first = tiny_config({"train.steps": 3, "train.ckpt_every": 3, "train.log_every": 1})
    condgan.train(first, tmp_path / "b", progress=False)
    condgan.train(full, tmp_path / "b", resume=True, progress=False)
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "checkpoint-0000006.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "checkpoint-0000006.pt")
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"
    rows_a = [json.loads(x) for x in (tmp_path / "a" / "stats.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (tmp_path / "b" / "stats.jsonl").read_text().splitlines()]
    losses = lambda rows: [(r["step"], r["D/loss"], r["G/loss"]) for r in rows]  # noqa: E731
    assert losses(rows_a) == losses(rows_b)


def test_existing_run_is_never_overwritten_without_asking(tmp_path, tiny_config):
    run = tmp_path / "run"
    condgan.train(tiny_config({"train.steps": 2}), run, progress=False)
    with pytest.raises(RunExistsError, match="--resume.*--force"):
        condgan.train(tiny_config(), run, progress=False)
    condgan.train(tiny_config({"train.steps": 2}), run, force=True, progress=False)
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [2]
    other = tmp_path / "notarun"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(RunExistsError, match="does not look like a condgan run"):
        condgan.train(tiny_config(), other, force=True, progress=False)
    assert (other / "precious.txt").exists()


def test_keep_last_checkpoints(tmp_path, tiny_config):
    run = tmp_path / "run"
    condgan.train(tiny_config({"train.steps": 8, "train.ckpt_every": 2, "train.keep_ckpts": 2}), run,
                  progress=False)
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [6, 8]
    assert not list(run.glob("checkpoints/*.tmp"))


def test_load_and_sample_requested_classes(tmp_path, tiny_config):
    run = tmp_path / "run"
    condgan.train(tiny_config(), run, progress=False)
    gen = condgan.load(run)
    assert (gen.num_classes, gen.resolution, gen.channels, gen.step) == (10, 16, 1, 4)
    a = gen.sample([3, 3, 7], truncation=0.5, seed=1)
    assert a.shape == (3, 16, 16, 1) and a.dtype == torch.uint8
    assert torch.equal(a, gen.sample([3, 3, 7], truncation=0.5, seed=1))  # seeded
    assert not torch.equal(a, gen.sample([3, 3, 7], truncation=0.5, seed=2))
    with pytest.raises(ValueError, match="Class 10 is outside"):
        gen.sample([10])


def test_cli_train_then_sample(tmp_path, tiny_overrides, capsys):
    run = tmp_path / "run"
    overrides = [f"{k}={v}" for k, v in tiny_overrides.items()]
    assert main(["train", "--outdir", str(run), "--no-progress", *overrides]) == 0
    assert main(["sample", str(run), "--n", "6", "--classes", "0,3,7", "--seed", "1",
                 "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (6, 16, 16, 1) and f["images"].dtype == np.uint8
        assert sorted(f["labels"].tolist()) == [0, 0, 3, 3, 7, 7]
    assert main(["sample", str(run), "--n", "4", "--classes", "1,2", "--truncation", "0.7",
                 "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (33, 33)  # one row per class, 2 samples each
    assert main(["sample", str(run / "checkpoints" / "checkpoint-0000004.pt"), "--n", "2",
                 "--out", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 2
    # an existing run without --resume is refused with exit code 2 and a message
    assert main(["train", "--outdir", str(run), "--no-progress", *overrides]) == 2
    assert "--resume" in capsys.readouterr().err


def test_cli_resume_continues_the_run(tmp_path, tiny_overrides):
    run = tmp_path / "run"
    overrides = [f"{k}={v}" for k, v in tiny_overrides.items()]
    assert main(["train", "--outdir", str(run), "--no-progress", *overrides]) == 0
    assert main(["train", "--outdir", str(run), "--resume", "--no-progress", "train.steps=6"]) == 0
    assert [s for s, _ in list_checkpoints(run / "checkpoints")][-1] == 6


def test_cli_dry_run_and_bad_key(tmp_path, capsys):
    assert main(["train", "--dry-run", "--preset", "cifar10-biggan", "train.steps=5"]) == 0
    out = capsys.readouterr().out
    assert "steps: 5" in out and "d_steps: 5" in out
    assert main(["train", "--dry-run", "train.stpes=5"]) == 2
    assert "Did you mean 'train.steps'" in capsys.readouterr().err


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "checkpoint-0000001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="checkpoint-0000001.pt"):
        condgan.load(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        condgan.load(tmp_path / "..")


def test_resume_refuses_different_data(tmp_path, tiny_config):
    run = tmp_path / "run"
    condgan.train(tiny_config({"train.steps": 2}), run, progress=False)
    with pytest.raises(ValueError, match="resolution=16.*resolution=32"):
        condgan.train(tiny_config({"train.steps": 4, "data.resolution": 32}), run, resume=True,
                      progress=False)


def test_bench_reports_figures():
    from condgan.bench import bench
    r = bench("digits", ["G.ch=2", "D.ch=2", "G.z_dim=12", "G.shared_dim=8", "train.batch_size=8"], steps=2,
              warmup=1, device="cpu")
    assert r["ms_per_step"] > 0 and r["images_per_sec"] > 0 and r["peak_memory_gib"] > 0
    assert r["data"].startswith("real 16x16x1")
    assert r["gflop_per_step"] > 0 and r["achieved_tflops"] > 0 and r["mfu"] is None  # no peak known for a CPU


def test_step_flops_count_the_d_steps():
    """Two D steps per G step cost more FLOPs than one: the counter sees the whole step."""
    from condgan.bench import bench
    small = ["G.ch=2", "D.ch=2", "G.z_dim=12", "G.shared_dim=8", "train.batch_size=8"]
    one, two = (bench("digits", small + [f"train.d_steps={k}"], steps=1, warmup=0, device="cpu")["gflop_per_step"]
                for k in (1, 2))
    assert two > one * 1.2


def test_two_runs_of_one_seed_are_bitwise_equal(tmp_path, tiny_config):
    """Within one numeric environment training is deterministic: the ground `--reproduce` stands on."""
    cfg = tiny_config({"train.steps": 4, "train.log_every": 1})
    a = load_checkpoint(condgan.train(cfg, tmp_path / "a", progress=False))
    b = load_checkpoint(condgan.train(cfg, tmp_path / "b", progress=False))
    for net in ("G", "D", "G_ema"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    assert (tmp_path / "a" / "stats.jsonl").read_text().split("sec_per_step")[0] == \
        (tmp_path / "b" / "stats.jsonl").read_text().split("sec_per_step")[0]
