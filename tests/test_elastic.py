"""Preemptible training under torchrun's elastic agent (2 processes, gloo, CPU).

One command line (`--resume auto`) starts a run, continues it after the whole job was killed, and continues it
after torchrun restarted its workers (one SIGKILLed, or one raising); SIGTERM to the agent makes every worker
stop at the same step, rank 0 write one checkpoint for all, and every worker exit 143.

The data are four classes of different brightness, so that a 100-step run learns its conditioning: the final
checkpoint's samples are checked by the pixel classifier of scripts/check_conditioning.py (chance: 0.25; an
untrained generator scores about that).
"""
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from condgan.training.checkpoint import list_checkpoints, load_checkpoint

OVERRIDES = {
    "data.resolution": 16, "G.ch": 8, "D.ch": 8, "G.z_dim": 12, "G.shared_dim": 8, "G.attn_res": 8,
    "D.attn_res": 8, "train.batch_size": 8, "train.d_steps": 1, "train.steps": 100, "train.log_every": 5,
    "train.ckpt_every": 10, "train.grid_every": 100000, "train.keep_ckpts": 2, "train.ema_start": 0,
    "train.ema_decay": 0.8, "train.standing_stats": 0, "optim.g_lr": 0.002, "optim.d_lr": 0.002,
    "train.device": "cpu", "train.threads": 1,
}
# torchrun's default shared store breaks restarts (pytorch/pytorch#135712; condgan warns): as the sbatch recipe
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


@pytest.fixture
def shades(tmp_path):
    """64 grey 16x16 images in 4 classes told apart by brightness (class k: values 60k .. 60k + 39)."""
    rng = np.random.default_rng(0)
    y = np.arange(64) % 4
    path = tmp_path / "shades.npz"
    np.savez(path, x=(rng.integers(0, 40, (64, 16, 16, 1)) + 60 * y[:, None, None, None]).astype(np.uint8), y=y)
    return path


def torchrun(run, data, *entry, **overrides):
    """The one command line of these tests: `torchrun ... --max-restarts 2 <entry> train --resume auto ...`."""
    args = [f"{k}={v}" for k, v in {**OVERRIDES, **overrides, "data.source": data}.items()]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--max-restarts=2",
            *(entry or ("-m", "condgan")), "train", "--outdir", str(run), "--resume", "auto", "--no-progress", *args]


@contextlib.contextmanager
def started(cmd):
    """torchrun running `cmd`; whatever is left of it (agent and workers) is killed on the way out."""
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        yield job
    finally:
        kill_job(job)


def workers(agent):
    """The worker processes torchrun started: its children (each in a session of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == agent.pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def kill_job(job):
    """SIGKILL the agent, if still running, and its workers."""
    if job.poll() is None:
        for pid in [job.pid, *workers(job)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        job.communicate()


def newest(run):
    found = list_checkpoints(run / "checkpoints")
    return found[-1][0] if found else 0


def wait_until(condition, proc, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def checkpoint(run, step):
    return run / "checkpoints" / f"checkpoint-{step:07d}.pt"


@pytest.mark.slow  # torchrun launches
def test_one_command_starts_a_run_and_continues_it_after_a_kill_and_after_a_torchrun_restart(tmp_path, shades):
    from condgan.metrics.conditioning import conditioning_accuracy
    run = tmp_path / "run"
    cmd = torchrun(run, shades)

    # 1. the first start; then the whole job is killed (agent and workers, as a scheduler kills a job)
    with started(cmd) as job:
        wait_until(lambda: newest(run) >= 10, job)
        workers_before = workers(job)
        os.kill(job.pid, signal.SIGKILL)
        for pid in workers_before:
            os.kill(pid, signal.SIGKILL)
        out = job.communicate()[0]
    assert f"Starting a new run in {run}: no checkpoint there yet." in out, out[-3000:]
    first = newest(run)

    # 2. the same command continues; one worker is SIGKILLed, torchrun restarts both, they resume and finish
    with started(cmd) as job:
        wait_until(lambda: newest(run) > first, job)
        seen = newest(run)
        os.kill(workers(job)[1], signal.SIGKILL)
        out = job.communicate(timeout=300)[0]
    assert job.returncode == 0, out[-3000:]
    assert f"Resuming from {checkpoint(run, first)} at step {first}." in out, out[-3000:]
    restarted = re.findall(r"Resuming from (\S+) at step (\d+) \(torchrun restart 1\)\.", out)
    assert len(restarted) == 1, out[-3000:]  # said once, by rank 0
    resumed = int(restarted[0][1])
    assert resumed >= seen  # lost at most the steps since the last checkpoint
    assert restarted[0][0] == str(checkpoint(run, resumed))

    assert newest(run) == 100 and load_checkpoint(checkpoint(run, 100))["step"] == 100
    rows = [int(m) for m in re.findall(r'"step": (\d+)', (run / "stats.jsonl").read_text())]
    assert rows == list(range(5, 101, 5))  # one row per log step: the rows after each resumed step were dropped
    accuracy, held_out = conditioning_accuracy(run, 200)
    # 0.83 here; 0.74 to 0.995 over seeds 1-5 of one process: a CPU that rounds otherwise is another seed
    assert held_out > 0.95 and accuracy >= 0.5, (accuracy, held_out)


RAISES = """\
import os, sys
from condgan.cli import main
from condgan.training import loop
step = loop.train_step
def failing(t, loader):
    if t.step == 25 and t.dist.rank == 1 and os.environ["TORCHELASTIC_RESTART_COUNT"] == "0":
        raise RuntimeError("injected failure of rank 1 at step 25")
    return step(t, loader)
loop.train_step = failing
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # torchrun launches
def test_a_worker_that_raises_is_restarted_and_resumes(tmp_path, shades):
    script = tmp_path / "raises.py"
    script.write_text(RAISES)
    run = tmp_path / "run"
    proc = subprocess.run(torchrun(run, shades, str(script), **{"train.steps": 40}), capture_output=True,
                          text=True, timeout=300, env=ENV)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "RuntimeError: injected failure of rank 1 at step 25" in out
    assert f"Resuming from {checkpoint(run, 20)} at step 20 (torchrun restart 1)." in proc.stdout
    assert newest(run) == 40


EXIT_CODES = """\
import os, sys
from condgan.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "a") as f:
    f.write(f"rank {os.environ['RANK']} exit {code}\\n")
sys.exit(code)
"""


@pytest.mark.slow  # torchrun launch
def test_sigterm_to_the_agent_checkpoints_once_for_every_worker_and_exits_143(tmp_path, shades):
    """Logging and checkpoints are far apart (1000 steps): the workers agree to stop at the step after the
    signal (a vote every step), not at a log step that could lie beyond torchrun's 30 s shutdown timeout."""
    script, codes, run = tmp_path / "exit_codes.py", tmp_path / "codes.txt", tmp_path / "run"
    script.write_text(EXIT_CODES)
    cmd = torchrun(run, shades, str(script), str(codes), **{"train.steps": 100000, "train.log_every": 1000,
                                                            "train.ckpt_every": 1000, "train.grid_every": 1})
    with started(cmd) as job:
        wait_until(lambda: (run / "grids").is_dir() and any((run / "grids").iterdir()), job)  # both are training
        time.sleep(0.3)
        t0 = time.time()
        job.send_signal(signal.SIGTERM)
        out = job.communicate(timeout=120)[0]
    assert time.time() - t0 < 25, out[-3000:]  # well inside torchrun's shutdown timeout (then SIGKILL)
    assert job.returncode == 1  # torchrun's own code when signalled (torch 2.13); the workers' codes follow
    assert sorted(codes.read_text().splitlines()) == ["rank 0 exit 143", "rank 1 exit 143"], out[-3000:]
    stopped = re.findall(r"Stopped by SIGTERM at step (\d+); checkpoint (\S+) written", out)
    assert len(stopped) == 2 and stopped[0] == stopped[1], out[-3000:]  # both workers, the same step
    step = int(stopped[0][0])
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [step] and step % 1000 != 0
    assert stopped[0][1] == str(checkpoint(run, step)) and load_checkpoint(checkpoint(run, step))["step"] == step


def test_a_second_sigterm_changes_nothing_and_a_second_sigint_still_interrupts():
    """A worker under SLURM gets SIGTERM from SLURM and again from torchrun: the checkpoint must still be
    written. Ctrl-C twice keeps killing."""
    from condgan.training.guards import StopSignals
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert stop.requested == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt):
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert stop.requested == signal.SIGINT
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)


def test_resume_auto_refuses_a_folder_that_is_not_a_run_and_plain_resume_still_takes_overrides(tmp_path, capsys):
    from condgan.cli import main
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("not a run\n")
    assert main(["train", "--outdir", str(notes), "--resume", "auto", "--no-progress"]) == 2
    assert f"--resume auto refuses '{notes}': it holds files but no condgan run" in capsys.readouterr().err
    assert sorted(p.name for p in notes.iterdir()) == ["todo.txt"]
    assert main(["train", "--resume", "train.steps=3", "--dry-run"]) == 0  # the override is not --resume's value
    assert "steps: 3\n" in capsys.readouterr().out
    assert main(["train", "--resume", "newest", "--dry-run"]) == 2
    assert "--resume newest: give --resume alone" in capsys.readouterr().err
