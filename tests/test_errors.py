"""Every user error ends the same way: one line on stderr naming the culprit, exit code 2, no traceback.

They all derive from `condgan.errors.CondganError`, which is what the CLI catches; anything else escaping is a
bug and keeps its traceback.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch

import condgan
from condgan.cli import main
from condgan.config import load_config
from condgan.errors import CondganError


def _fails_with_one_line(capsys, argv, *names):
    """Run the CLI; it must return 2 and print exactly one stderr line that contains each of `names`."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("condgan: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def run(tmp_path, tiny_npz, tiny_overrides):
    """A finished 2-step run on a 4-class dataset."""
    folder = tmp_path / "run"
    condgan.train(load_config("digits", {**tiny_overrides, "data.source": str(tiny_npz), "train.steps": 2}),
                  folder, progress=False)
    return folder


def test_resuming_with_other_data_is_one_line(tmp_path, run, capsys):
    other = tmp_path / "five.npz"
    np.savez(other, x=np.zeros((40, 16, 16, 1), np.uint8), y=np.arange(40) % 5)
    _fails_with_one_line(capsys, ["train", "--outdir", run, "--resume", "--no-progress", f"data.source={other}",
                                  "train.steps=4"], "num_classes=4", "num_classes=5", "checkpoint-0000002.pt")


def test_batch_not_divisible_by_the_processes_is_one_line(tmp_path, tiny_npz, tiny_overrides, monkeypatch, capsys):
    from condgan.training import distributed, loop
    monkeypatch.setattr(loop, "setup", lambda device: distributed.Distributed(world_size=3))
    _fails_with_one_line(capsys, ["train", "--outdir", tmp_path / "r", "--no-progress", f"data.source={tiny_npz}",
                                  "train.batch_size=8"], "train.batch_size=8", "3 processes")


def test_no_cuda_device_is_one_line(tmp_path, run, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _fails_with_one_line(capsys, ["train", "--outdir", tmp_path / "r", "--no-progress", "train.device=cuda"],
                         "train.device=cuda", "no CUDA device")
    _fails_with_one_line(capsys, ["sample", run, "--device", "cuda", "--out", tmp_path / "s.png"],
                         "--device=cuda", "no CUDA device")


def test_bad_classes_are_one_line(tmp_path, run, capsys):
    _fails_with_one_line(capsys, ["sample", run, "--classes", "0,x", "--out", tmp_path / "s.png"], "--classes '0,x'")
    _fails_with_one_line(capsys, ["sample", run, "--classes", "0,7", "--out", tmp_path / "s.png"], "Class 7",
                         "[0, 4)")


def test_existing_run_folder_and_bad_checkpoint_are_one_line(tmp_path, run, capsys):
    _fails_with_one_line(capsys, ["train", "--outdir", run, "--no-progress"], str(run), "--resume", "--force")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all\n" * 10)
    _fails_with_one_line(capsys, ["sample", bad, "--out", tmp_path / "s.png"], "bad.pt")
    _fails_with_one_line(capsys, ["evaluate", tmp_path / "nothing-here", "--device", "cpu"], "nothing-here")


def test_missing_inception_weights_and_bad_options_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("CONDGAN_INCEPTION_WEIGHTS", raising=False)
    _fails_with_one_line(capsys, ["evaluate", "--real", "digits", "--fake", "digits", "--device", "cpu",
                                  "--no-cache"], "pt_inception-2015-12-05-6726825d.pth")
    _fails_with_one_line(capsys, ["evaluate", "--real", "digits", "--fake", "digits", "--metrics", "fid,fdi"],
                         "fdi")
    _fails_with_one_line(capsys, ["report", tmp_path / "no-run"], "no-run")


def test_every_user_error_type_is_a_condgan_error():
    from condgan.config import ConfigError
    from condgan.data import DataError
    from condgan.io import CheckpointError
    from condgan.metrics.weights import WeightsHashError, WeightsNotFoundError
    from condgan.training import RunExistsError
    for cls in (ConfigError, DataError, CheckpointError, RunExistsError, WeightsNotFoundError, WeightsHashError):
        assert issubclass(cls, CondganError), cls


def test_exit_code_and_stderr_of_the_real_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "condgan", "sample", str(tmp_path / "x"), "--classes", "a",
                           "--out", str(tmp_path / "s.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "condgan: error: --classes 'a': expected comma-separated class ids such as 0,3,7"]
