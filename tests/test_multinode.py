"""Beyond one torchrun: two nodes on one machine (c10d rendezvous on the loopback address), processes that
disagree refused before the first step, and the SLURM recipe's command lines.

Two nodes of one process each compute what one node of two processes computes, to the bit on CPU: the ranks,
their data shards, their latents and gloo's two-way sums are the same; only the launch differs.
The guard tests start each process themselves with torch.distributed's variables (MASTER_ADDR/PORT, RANK,
WORLD_SIZE, LOCAL_RANK), as a multi-node launcher does, so that exactly one process can differ.
"""
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from condgan.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = {
    "data.resolution": 16, "G.ch": 2, "D.ch": 2, "G.z_dim": 12, "G.shared_dim": 8, "G.attn_res": 8,
    "D.attn_res": 8, "train.batch_size": 8, "train.d_steps": 2, "train.steps": 4, "train.log_every": 1,
    "train.grid_every": 4, "train.ckpt_every": 2, "train.ema_start": 1, "train.standing_stats": 2,
    "train.grid_classes": 2, "train.grid_per_class": 1, "train.device": "cpu", "train.threads": 1,
}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_tree(proc):
    """SIGKILL a launcher that is still running and the processes it started (torchrun's workers)."""
    if proc.poll() is None:
        children = [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
                    if _parent(stat) == proc.pid]
        for pid in [proc.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()


def _parent(stat):
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def overrides(data, **extra):
    return [f"{k}={v}" for k, v in {**OVERRIDES, "data.source": data, **extra}.items()]


def train_args(run, data, **extra):
    return ["train", "--outdir", str(run), "--resume", "auto", "--no-progress", *overrides(data, **extra)]


def rows(run):
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


@pytest.mark.slow  # torchrun launches
def test_two_nodes_on_one_machine_train_exactly_as_one_node_of_two_processes(tmp_path, tiny_npz):
    port, nodes, one = free_port(), tmp_path / "nodes", tmp_path / "one"
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
            "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=condgan-test",
            "--local-addr=127.0.0.1", "-m", "condgan", *train_args(nodes, tiny_npz)]
    launched = [subprocess.Popen(node, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
                for _ in range(2)]
    try:
        outs = [p.communicate(timeout=300)[0] for p in launched]
    finally:
        for p in launched:
            kill_tree(p)
    assert all(p.returncode == 0 for p in launched), "\n".join(o[-2000:] for o in outs)
    assert sorted(o.count(f"Starting a new run in {nodes}") for o in outs) == [0, 1]  # rank 0's node only

    standalone = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                 "-m", "condgan", *train_args(one, tiny_npz)],
                                capture_output=True, text=True, timeout=300, env=ENV)
    assert standalone.returncode == 0, standalone.stderr[-3000:]

    # one run folder, written by rank 0 alone, with what a single node writes
    files = lambda run: sorted(str(p.relative_to(run)) for p in run.rglob("*")  # noqa: E731
                               if p.is_file() and "tensorboard" not in p.parts)
    assert files(nodes) == files(one) == ["checkpoints/checkpoint-0000002.pt", "checkpoints/checkpoint-0000004.pt",
                                          "config.yaml", "grids/grid-0000004.png", "stats.jsonl"]
    assert len(list((nodes / "tensorboard").iterdir())) == 1
    # the same losses, to the bit, and the same weights
    timing = {"sec_per_step", "images_per_sec"}
    a, b = rows(nodes), rows(one)
    assert [r["step"] for r in a] == [1, 2, 3, 4]
    assert [{k: v for k, v in r.items() if k not in timing} for r in a] == \
           [{k: v for k, v in r.items() if k not in timing} for r in b]
    ca, cb = (load_checkpoint(run / "checkpoints" / "checkpoint-0000004.pt") for run in (nodes, one))
    for net in ("G", "D", "G_ema"):
        for k in cb[net]:
            assert torch.equal(ca[net][k], cb[net][k]), f"{net}.{k}"


def launch_two(args, cwds=(None, None), timeout=120):
    """Processes 0 and 1 of one run, started by hand with their own arguments and working folders."""
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    procs = [subprocess.Popen([sys.executable, "-m", "condgan", *args[r]], cwd=cwds[r], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}) for r in range(2)]
    try:
        done = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            kill_tree(p)
    return [p.returncode for p in procs], [err for _, err in done]


def refused(codes, errs, message):
    """Both processes stopped with the same one-line user error (exit 2), and it says `message`."""
    assert codes == [2, 2], errs
    lines = [[x for x in e.splitlines() if x.startswith("condgan: error:")] for e in errs]
    assert lines[0] == lines[1] and len(lines[0]) == 1, errs
    assert message in lines[0][0], lines[0][0]
    return lines[0][0]


@pytest.mark.slow  # two processes
def test_a_process_started_with_another_override_is_refused_naming_the_key(tmp_path, tiny_npz):
    run = tmp_path / "run"
    codes, errs = launch_two([train_args(run, tiny_npz), train_args(run, tiny_npz, **{"optim.d_lr": 0.0005})])
    refused(codes, errs, "Processes disagree on the config: process 1 has optim.d_lr=0.0005, process 0 has "
                         "optim.d_lr=0.001")
    assert not run.exists()  # refused before the run folder was touched


@pytest.mark.slow  # two processes
def test_a_process_that_reads_other_data_is_refused(tmp_path, tiny_npz):
    """The same data.source, relative, resolves to different files in the two processes' folders (as node-local
    copies that differ would)."""
    run, here, there = tmp_path / "run", tmp_path / "node0", tmp_path / "node1"
    here.mkdir(), there.mkdir()
    shutil.copy(tiny_npz, here / "data.npz")
    with np.load(tiny_npz) as d:  # one image changed, nothing else
        x = d["x"].copy()
        x[40] = 255 - x[40]
        np.savez(there / "data.npz", x=x, y=d["y"])
    codes, errs = launch_two([train_args(run, "data.npz")] * 2, cwds=(here, there))
    line = refused(codes, errs, "Processes disagree on the data: process 1 has content=")
    assert "data.npz" in line and "data.source on every node" in line
    assert not (run / "config.yaml").exists() and not (run / "checkpoints").exists()  # before the first step


@pytest.mark.slow  # two processes
def test_processes_that_would_resume_at_different_steps_are_refused(tmp_path, tiny_npz):
    """Two run folders (a file system the nodes do not share): process 1's newest checkpoint is older."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    import condgan
    from condgan.config import load_config
    condgan.train(load_config("digits", dict(arg.split("=", 1) for arg in overrides(tiny_npz))), ours,
                  progress=False)
    shutil.copytree(ours, theirs)
    (theirs / "checkpoints" / "checkpoint-0000004.pt").unlink()
    before = sorted(p.name for p in (ours / "checkpoints").iterdir())
    codes, errs = launch_two([train_args(ours, tiny_npz, **{"train.steps": 6}),
                              train_args(theirs, tiny_npz, **{"train.steps": 6})])
    refused(codes, errs, f"Processes disagree on the resumed step: process 1 has step=2 (from "
                         f"{theirs / 'checkpoints' / 'checkpoint-0000002.pt'}), process 0 has step=4 (from "
                         f"{ours / 'checkpoints' / 'checkpoint-0000004.pt'})")
    assert sorted(p.name for p in (ours / "checkpoints").iterdir()) == before  # no step was taken


def test_the_data_fingerprint_ignores_where_files_are_mounted_and_sees_one_changed_image_or_name():
    from condgan.data import LabelledImages
    from condgan.training.loop import data_fingerprint

    def streamed(root, names=("a/1.png", "b/2.png")):
        return LabelledImages(labels=np.array([0, 1]), class_names=["a", "b"], images=None, shape=(8, 8, 3),
                              files=[f"{root}/{n}" for n in names], source=root)

    def resident(change=False):
        x = np.zeros((300, 8, 8, 3), dtype=np.uint8)
        x[299, 0, 0, 0] = change  # the last image is among the sampled ones
        return LabelledImages(labels=np.arange(300) % 2, class_names=["a", "b"], images=x, files=None,
                              shape=(8, 8, 3), source="x")
    assert data_fingerprint(streamed("/data")) == data_fingerprint(streamed("/local/copy"))
    assert data_fingerprint(streamed("/local/copy")) != data_fingerprint(streamed("/local/copy",
                                                                                    ("a/1.png", "b/3.png")))
    assert data_fingerprint(resident()) != data_fingerprint(resident(change=True))


# ---------------------------------------------------------------------------------------------------------
# examples/slurm/train.sbatch, run with fake SLURM variables and a fake scontrol/srun on PATH

SBATCH = ROOT / "examples" / "slurm" / "train.sbatch"
FAKE_SCONTROL = """#!/bin/sh
if [ "$1 $2" = "show hostnames" ]; then printf 'gpu07\\ngpu08\\n'; else echo "scontrol $*" >> "$FAKE_LOG"; fi
"""
FAKE_SRUN = """#!/bin/sh
trap 'echo "srun got TERM" >> "$FAKE_LOG"; exit 143' TERM
echo "srun started" >> "$FAKE_LOG"
while :; do sleep 0.05; done
"""


def slurm_env(tmp_path, **extra):
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    for name, text in (("scontrol", FAKE_SCONTROL), ("srun", FAKE_SRUN)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    return {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
            "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NNODES": "2", "FAKE_LOG": str(tmp_path / "log"), **extra}


def test_the_sbatch_recipe_builds_a_multi_node_torchrun_that_resumes(tmp_path):
    from torch.distributed.run import parse_args

    from condgan.cli import build_parser
    from condgan.config import load_config
    out = subprocess.run(["bash", str(SBATCH), "train.steps=100", "data.source=/data/in 128"], capture_output=True,
                         text=True, timeout=60, env=slurm_env(tmp_path, DRY_RUN="1", PRESET="cifar10-biggan"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    cmd = shlex.split(lines[0])
    assert cmd[:cmd.index("torchrun")] == ["srun", "--kill-on-bad-exit=1", "--ntasks-per-node=1"]
    torchrun = parse_args(cmd[cmd.index("torchrun") + 1:])  # torchrun's own parser accepts every flag
    assert (torchrun.nnodes, torchrun.nproc_per_node, torchrun.rdzv_backend) == ("2", "8", "c10d")
    assert (torchrun.rdzv_endpoint, torchrun.rdzv_id) == ("gpu07:29500", "4242")  # the allocation's first node
    assert torchrun.max_restarts == 3 and torchrun.module and torchrun.training_script == "condgan"
    train = build_parser().parse_args(torchrun.training_script_args)
    assert train.resume == "auto" and train.preset == "cifar10-biggan" and train.outdir == "runs/cifar10-biggan-4242"
    assert train.overrides == ["train.steps=100", "data.source=/data/in 128"]
    assert load_config(train.preset, train.overrides).data.source == "/data/in 128"
    assert lines[1] == "on USR1, after the step: scontrol requeue 4242"
    # the signal comes early enough for torchrun's grace period, and the job may be requeued
    options = [x.split()[1] for x in SBATCH.read_text().splitlines() if x.startswith("#SBATCH ")]
    assert "--requeue" in options
    lead = int(next(o for o in options if o.startswith("--signal=B:USR1@")).split("@")[1])
    assert lead > torchrun.shutdown_timeout + 30
    assert "export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1" in SBATCH.read_text()


@pytest.mark.parametrize("sig, requeued", [(signal.SIGUSR1, True), (signal.SIGTERM, False)])
def test_the_sbatch_recipe_stops_the_step_on_a_signal_and_requeues_before_the_time_limit(tmp_path, sig, requeued):
    """USR1 (--signal=B:USR1@300, the time limit nears): SIGTERM to the step, wait for it, requeue. SIGTERM
    (pre-emption, scancel): SIGTERM to the step, wait, and leave the requeue to SLURM."""
    log = tmp_path / "log"
    job = subprocess.Popen(["bash", str(SBATCH)], env=slurm_env(tmp_path), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while not (log.exists() and "srun started" in log.read_text()):
        assert job.poll() is None and time.time() < deadline, job.communicate()
        time.sleep(0.05)
    job.send_signal(sig)
    out = job.communicate(timeout=30)[0]
    assert job.returncode == 143, out  # the step's code: the checkpoint was written, the run is not finished
    expected = ["srun started", "srun got TERM"] + (["scontrol requeue 4242"] if requeued else [])
    assert log.read_text().splitlines() == expected
