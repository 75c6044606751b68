"""The training loop: one readable function, `train`, and the step it repeats, `train_step`.

Everything a step touches lives in `Trainer` (networks, optimisers, objective, EMA, the latent RNG); a
method changes the parts the Trainer is built from (backbone, head, losses), never this loop.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import hashlib
import os
import random
import shutil
import signal
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import Config, ConfigError, flat_config, save_config
from ..data import DataError, LabelledImages, from_config, make_loader
from ..errors import CondganError
from ..models import build_networks
from ..sample import ConditionalSampler, save_png
from .checkpoint import (CheckpointError, checkpoint_name, list_checkpoints, load_checkpoint, prune_checkpoints,
                         save_checkpoint)
from .distributed import Distributed, LaggedAny, setup, teardown
from .ema import EMA, standing_stats
from .evaluation import TrainingEvaluator
from .guards import (DivergenceError, DivergenceMonitor, StopSignals, TrainingInterrupted, check_parameters,
                     check_processes_agree)
from .logger import RunLogger
from .objective import Objective
from .schedules import hyperparameters


class RunExistsError(CondganError, FileExistsError):
    """The run folder exists and neither --resume nor --force was given, or --force would delete (--resume auto
    would write into) a folder that is not a condgan run."""


def pick_device(name: str, key: str = "train.device") -> torch.device:
    """'auto' (CUDA when visible, else CPU), 'cpu', 'cuda' or 'cuda:N'; `key` names the option in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{key}={name} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={name} but no CUDA device is visible; use {key}=cpu.")
    return dev


@dataclasses.dataclass
class Trainer:
    """Everything one training step reads or updates. `G`/`D` are the plain networks (weights, EMA,
    checkpoints); `G_train`/`D_train` the same networks as trained (DDP-wrapped, compiled), built in one
    place (`build`) and used for every training forward."""
    cfg: Config
    G: nn.Module
    D: nn.Module
    G_train: nn.Module
    D_train: nn.Module
    G_ema: nn.Module
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    objective: Objective
    ema: EMA
    latent_rng: torch.Generator
    device: torch.device
    num_classes: int
    dist: Distributed = Distributed()
    step: int = 0
    lr_scale: float = 1.0  # cut by train.on_divergence=rollback

    @classmethod
    def build(cls, cfg: Config, num_classes: int, resolution: int, channels: int,
              device: torch.device, dist: Distributed = Distributed()) -> "Trainer":
        torch.manual_seed(cfg.train.seed)  # network initialisation: the same on every process
        G, D = build_networks(cfg, num_classes, resolution, channels)
        if dist.enabled and device.type == "cuda":  # cross-replica BatchNorm, as BigGAN (CUDA only in PyTorch)
            G = nn.SyncBatchNorm.convert_sync_batchnorm(G)
        fast = not cfg.train.plain
        layout = torch.channels_last if fast and cfg.train.channels_last else torch.contiguous_format
        G, D = G.to(device, memory_format=layout), D.to(device, memory_format=layout)
        G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        G_train, D_train = G, D
        if dist.enabled:  # gradients averaged by PyTorch's DistributedDataParallel
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [device.index] if device.type == "cuda" else None
            G_train = DDP(G, device_ids=ids, broadcast_buffers=False)
            D_train = DDP(D, device_ids=ids, broadcast_buffers=False)
        if fast and cfg.train.compile != "off":
            G_train, D_train = compile_networks(cfg, G_train, D_train)
        o = cfg.optim
        fused = device.type == "cuda" and fast
        g_opt = torch.optim.Adam(G.parameters(), lr=o.g_lr, betas=o.g_betas, eps=o.eps,
                                 weight_decay=o.weight_decay, fused=fused or None)
        d_opt = torch.optim.Adam(D.parameters(), lr=o.d_lr, betas=o.d_betas, eps=o.eps,
                                 weight_decay=o.weight_decay, fused=fused or None)
        latent_rng = torch.Generator(device).manual_seed(cfg.train.seed + 1)
        objective = Objective(cfg, G, D, G_train, D_train, device, rank=dist.rank)
        return cls(cfg, G, D, G_train, D_train, G_ema, g_opt, d_opt, objective,
                   EMA(cfg.train.ema_decay, cfg.train.ema_start), latent_rng, device, num_classes, dist)

    @property
    def fakes_take_real_labels(self) -> bool:
        """loss.fake_labels: each fake is drawn with the class of the real image it is paired with (R3GAN's
        code; the default under the relativistic loss) instead of a uniform class."""
        source = self.cfg.loss.fake_labels
        return source == "real" or (source == "auto" and self.objective.adversarial.pairs_labels)

    def latents(self, n: int, real_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training latents for a global batch of n: z ~ N(0, I) and uniform class labels from the trainer's
        own RNG; every process draws all n and keeps its slice. Where fakes take the real batch's labels,
        `real_labels` (this process's slice) replace the uniform ones (drawn anyway: the RNG stream is the same)."""
        z = torch.randn(n, self.G.z_dim, device=self.device, generator=self.latent_rng)
        y = torch.randint(0, self.num_classes, (n,), device=self.device, generator=self.latent_rng)
        rows = self.dist.local(n)
        return z[rows], (real_labels if self.fakes_take_real_labels else y[rows])

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.cfg.train.precision == "bf16" and not self.cfg.train.plain:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict(), "g_opt": self.g_opt.state_dict(),
                "d_opt": self.d_opt.state_dict(), "latent_rng": self.latent_rng.get_state(),
                "objective": self.objective.state_dict(), "lr_scale": self.lr_scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        for name in ("G", "D", "G_ema", "g_opt", "d_opt"):
            getattr(self, name).load_state_dict(state[name])
        self.latent_rng.set_state(state["latent_rng"])
        self.objective.load_state_dict(state["objective"])
        self.lr_scale = float(state["lr_scale"])

    def set_hyperparameters(self) -> dict[str, float]:
        """This step's learning rates, Adam beta2 and EMA decay go into the optimisers and the EMA; all of
        this step's values (R1/R2 gamma and augmentation p for the objective) are returned. Constant unless a
        burn-in schedule moves them (plain Python floats: no device work)."""
        kimg = self.step * self.cfg.train.batch_size * self.cfg.train.d_steps / 1000.0
        hp = hyperparameters(self.cfg, kimg)
        for opt, side in ((self.g_opt, "g"), (self.d_opt, "d")):
            for group in opt.param_groups:
                group["lr"] = hp[f"{side}_lr"] * self.lr_scale
                group["betas"] = (group["betas"][0], hp[f"{side}_beta2"])
        self.ema.decay = hp["ema_decay"]
        return hp


def compile_networks(cfg: Config, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
    """torch.compile the trained G and D (train.compile). D is left eager when R1/R2 need a double backward,
    which compiled graphs do not support; without a working compiler both stay eager, with a warning."""
    import warnings
    mode = cfg.train.compile
    kwargs = {"backend": "eager"} if mode == "eager" else ({} if mode == "default" else {"mode": mode})
    try:
        G = torch.compile(G, **kwargs)
        if cfg.loss.r1_gamma == 0 and cfg.loss.r2_gamma == 0:
            D = torch.compile(D, **kwargs)
    except Exception as e:  # e.g. a platform without a compiler backend
        warnings.warn(f"train.compile={mode} is not available here ({e}); training eagerly.")
    return G, D


def train_step(t: Trainer, loader) -> dict[str, torch.Tensor]:
    """One G update and the `d_steps` D updates before it. Returns detached device tensors (no host sync)."""
    cfg = t.cfg.train
    stats: dict[str, torch.Tensor] = {}
    hp = t.set_hyperparameters()
    # the conditioning-gradient probe costs a partial backward: measure it only on steps that get logged
    probe = (t.step + 1) % cfg.log_every == 0 or t.step + 1 == cfg.steps
    t.G.train()
    t.D.requires_grad_(True)
    for _ in range(cfg.d_steps):
        x_real, y_real = loader.next()
        z, y_fake = t.latents(cfg.batch_size, y_real)
        with torch.no_grad(), t.autocast():
            x_fake = t.G_train(z, y_fake)
        with t.autocast():
            loss, stats = t.objective.d_loss(x_real, y_real, x_fake, y_fake, hp, probe)
        t.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        t.d_opt.step()

    t.D.requires_grad_(False)
    real = loader.next() if t.objective.g_needs_real or t.fakes_take_real_labels else (None, None)
    z, y_fake = t.latents(cfg.batch_size, real[1])
    with t.autocast():
        loss, g_stats = t.objective.g_loss(z, y_fake, hp, *real)
    t.g_opt.zero_grad(set_to_none=True)
    loss.backward()
    t.g_opt.step()

    t.ema.update(t.G_ema, t.G, t.step)
    t.step += 1
    return {**stats, **g_stats}


# ----------------------------------------------------------------------------------------------------------
# RNG state: everything random outside the trainer's own generators, so resume is exact.

def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                      "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
            "python": [list(random.getstate()[1]), random.getstate()[0]]}


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate((s["python"][1], tuple(s["python"][0]), None))


# ----------------------------------------------------------------------------------------------------------

def is_run_dir(path: Path) -> bool:
    """A condgan run folder: training writes its config.yaml before anything else, checkpoints/ after."""
    return (path / "config.yaml").exists() or (path / "checkpoints").exists()


def prepare_run_dir(outdir: Path, resume: bool | str, force: bool, check_only: bool = False) -> None:
    """Create the run folder; refuse to touch an existing run unless asked to resume or overwrite it, and
    refuse (resume='auto') a folder holding something other than a condgan run. `check_only`: raise what
    this would raise, change nothing (every process of a distributed run checks, so all of them stop
    together instead of waiting for the one that failed)."""
    outdir = Path(outdir)
    occupied = outdir.exists() and any(outdir.iterdir())
    if occupied and resume == "auto" and not is_run_dir(outdir):
        raise RunExistsError(f"--resume auto refuses '{outdir}': it holds files but no condgan run (no config.yaml "
                             "or checkpoints/). Choose another --outdir.")
    if occupied and not resume:
        if not force:
            raise RunExistsError(f"Run folder '{outdir}' already exists. Pass --resume to continue it, --force to "
                                 "overwrite it, or choose another --outdir.")
        if not is_run_dir(outdir):
            raise RunExistsError(f"--force refuses to delete '{outdir}': it does not look like a condgan run "
                                 "folder (no config.yaml). Choose another --outdir.")
        if not check_only:
            shutil.rmtree(outdir)
    if not check_only:
        outdir.mkdir(parents=True, exist_ok=True)


def data_meta(data: LabelledImages) -> dict[str, Any]:
    return {"num_classes": data.num_classes, "class_names": list(data.class_names),
            "resolution": data.resolution, "channels": data.channels, "source": data.source}


def data_fingerprint(data: LabelledImages, samples: int = 256) -> dict[str, Any]:
    """What every process must agree on about its data: its size, shape and classes, and a hash of the
    class names, all labels and up to `samples` evenly spaced images (their pixels when in memory or
    memory-mapped, their names below the common folder when streamed from files). Sampled, not a full
    hash: hashing ImageNet at every start would take minutes."""
    h = hashlib.sha256("\n".join(data.class_names).encode())
    h.update(np.ascontiguousarray(data.labels, dtype=np.int64).tobytes())
    if data.images is not None:
        rows = np.unique(np.linspace(0, len(data) - 1, min(samples, len(data))).round().astype(np.int64))
        h.update(np.ascontiguousarray(data.images[rows]).tobytes())
    elif data.files:
        root = len(os.path.commonpath(data.files))  # the names below it: nodes may mount the data elsewhere
        h.update("\n".join(f[root:] for f in data.files).encode())
    return {"images": len(data), "shape": list(data.shape), "classes": data.num_classes,
            "content": h.hexdigest()[:16]}


def check_data_matches(meta: dict[str, Any], data: LabelledImages, ckpt: Path) -> None:
    for key in ("num_classes", "resolution", "channels"):
        if meta[key] != data_meta(data)[key]:
            raise DataError(f"Checkpoint '{ckpt}' was trained with {key}={meta[key]}, but the data "
                            f"'{data.source}' has {key}={data_meta(data)[key]}. Resume with the same data.")


def write_grid(t: Trainer, meta: dict[str, Any], run_dir: Path, logger: RunLogger | None = None) -> Path:
    """Per-class sample grid of G_ema (fixed latents, so grids over time are comparable)."""
    cfg = t.cfg.train
    k = min(cfg.grid_classes, t.num_classes)
    classes = np.linspace(0, t.num_classes - 1, k).round().astype(int).tolist()
    grid = ConditionalSampler(t.G_ema, meta["class_names"], t.device).class_grid(classes, cfg.grid_per_class,
                                                                                  seed=cfg.seed)
    path = run_dir / "grids" / f"grid-{t.step:07d}.png"
    save_png(grid, path)
    if logger is not None:
        logger.image("samples", grid, t.step)
    return path


def refresh_standing_stats(t: Trainer) -> None:
    if t.cfg.train.standing_stats <= 0:
        return
    gen = torch.Generator(t.device).manual_seed(t.cfg.train.seed + 2)  # never the training RNG

    def inputs() -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(t.cfg.train.batch_size, t.G.z_dim, device=t.device, generator=gen)
        return z, torch.randint(0, t.num_classes, (len(z),), device=t.device, generator=gen)
    with torch.no_grad(), t.autocast():
        standing_stats(t.G_ema, inputs, t.cfg.train.standing_stats)


def save_training_checkpoint(t: Trainer, loader, meta: dict[str, Any], run_dir: Path,
                             name: str | None = None, **extra: Any) -> Path:
    path = run_dir / "checkpoints" / (name or checkpoint_name(t.step))
    save_checkpoint({**t.state_dict(), "config": t.cfg.to_dict(), "data": meta, "loader": loader.state_dict(),
                     "rng": _rng_state(), **extra}, path)
    prune_checkpoints(run_dir / "checkpoints", t.cfg.train.keep_ckpts)
    return path


def _checkpoint_on_main(t: Trainer, loader, meta: dict[str, Any], run_dir: Path) -> Path:
    """The main process writes the checkpoint; every process waits for it (a rollback may read it next)
    and returns its path."""
    if t.dist.is_main:
        save_training_checkpoint(t, loader, meta, run_dir)
    t.dist.barrier()
    return run_dir / "checkpoints" / checkpoint_name(t.step)


def _restore(t: Trainer, loader, path: Path, data: LabelledImages, device: torch.device) -> None:
    state = load_checkpoint(path, map_location=device)
    check_data_matches(state["data"], data, path)
    if "imported" in state and "g_opt" not in state:
        _start_from_imported(t, state, path)
        return
    t.load_state_dict(state)
    loader.load_state_dict(state["loader"])
    _set_rng_state(state["rng"])


def _start_from_imported(t: Trainer, state: dict[str, Any], path: Path) -> None:
    """Fine-tuning a published model (`condgan import`): its networks, fresh optimisers, data order and RNGs
    (the published files hold none of these). G starts from G_ema when only that was imported."""
    if "D" not in state:
        raise CheckpointError(f"'{path}' was imported without a discriminator: fine-tuning needs one "
                              "(condgan import ... --D FILE).")
    t.step = int(state["step"])
    t.G.load_state_dict(state.get("G", state["G_ema"]))
    t.D.load_state_dict(state["D"])
    t.G_ema.load_state_dict(state["G_ema"])
    if t.dist.is_main:
        print(f"Fine-tuning the imported weights in {path} from step {t.step}: the published files hold no "
              "optimiser state, so both optimisers start fresh" + ("" if "G" in state else ", and G starts "
                                                                    "from G_ema") + ".", flush=True)


def _check_finite(t: Trainer, monitor: DivergenceMonitor) -> None:
    """Raise one DivergenceError naming every kind of non-finite value found (losses and/or weights).
    Under torchrun the processes agree first, so that all of them stop or roll back together: one process
    leaving alone would leave the others waiting in their next collective."""
    problems = []
    for check in (monitor.check_stats, lambda: check_parameters({"G": t.G, "D": t.D})):
        try:
            check()
        except DivergenceError as e:
            problems.append(str(e))
    if t.dist.any(bool(problems)):
        raise DivergenceError("; ".join(problems) or "another process found non-finite values")


def _roll_back_or_raise(err: DivergenceError, t: Trainer, loader, last_ckpt: Path | None, rollbacks: int,
                        data: LabelledImages, logger: RunLogger, monitor: DivergenceMonitor) -> int:
    """train.on_divergence=rollback: reload the last (finite) checkpoint, cut both learning rates, go on.
    Otherwise, or when no rollback is left, stop with a message saying where the last good state is."""
    cfg = t.cfg.train
    if cfg.on_divergence != "rollback" or last_ckpt is None or rollbacks >= cfg.max_rollbacks:
        where = f" The last good checkpoint is {last_ckpt}." if last_ckpt else ""
        raise DivergenceError(f"Training diverged: {err} (detected at step {t.step}).{where} Lower the learning "
                              "rates and --resume, or set train.on_divergence=rollback.") from None
    _restore(t, loader, last_ckpt, data, t.device)
    t.lr_scale *= cfg.rollback_lr_factor
    t.set_hyperparameters()
    monitor.reset()
    logger.pending.clear()
    logger.write({"step": t.step, "event": "rollback", "reason": str(err),
                  "g_lr": t.g_opt.param_groups[0]["lr"], "d_lr": t.d_opt.param_groups[0]["lr"]})
    print(f"Diverged ({err}); rolled back to {last_ckpt} with learning rates x{cfg.rollback_lr_factor} "
          f"(rollback {rollbacks + 1}/{cfg.max_rollbacks}).", flush=True)
    logger.bar.reset(total=cfg.steps)
    logger.bar.update(t.step)
    return rollbacks + 1


def train(cfg: Config, outdir: str | Path, resume: bool | str = False, force: bool = False,
          progress: bool = True) -> Path:
    """Train according to `cfg` into the run folder `outdir`; returns the final checkpoint's path.

    `resume`: True continues from the newest complete checkpoint in `outdir` when there is one; "auto" does
    the same but refuses a folder that is not a condgan run, so that one command line both starts a run and
    continues it (schedulers, torchrun restarts). Under torchrun every process runs this function; they
    share the global batch, only the main process writes files, and all must agree on the config, the data
    and the resumed step (ProcessMismatchError otherwise, before the first step). Raises TrainingInterrupted
    (after writing a checkpoint) on SIGTERM/SIGINT, DivergenceError on a non-finite loss or weight (unless
    train.on_divergence=rollback and rollbacks remain).
    """
    dist = setup(cfg.train.device)
    try:
        return _train(cfg, Path(outdir), resume, force, progress, dist)
    except BaseException as e:
        if dist.enabled:  # the traceback's frames hold DDP, which holds the process group: drop them before
            traceback.clear_frames(e.__traceback__)  # the group goes, or its threads are destroyed at exit (abort)
            gc.collect()
        raise
    finally:
        teardown(dist)


def _train(cfg: Config, run_dir: Path, resume: bool | str, force: bool, progress: bool,
           dist: Distributed) -> Path:
    check_processes_agree(dist, "config", flat_config(cfg.to_dict()), "Start every process with the same preset and "
                          "overrides.")
    prepare_run_dir(run_dir, resume, force, check_only=True)
    dist.barrier()
    if dist.is_main:
        prepare_run_dir(run_dir, resume, force)
    dist.barrier()
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True)
    device = pick_device(cfg.train.device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if device.type == "cpu" and cfg.train.precision == "bf16" and not cfg.train.plain and dist.is_main:
        import warnings
        warnings.warn("train.precision=bf16 on a CPU: autocast to bfloat16 was about 50x slower than fp32 on a "
                      "CPU without native bf16 units (measured); pass train.precision=fp32 unless yours has them.",
                      stacklevel=2)
    if cfg.train.batch_size % dist.world_size:
        raise ConfigError(f"train.batch_size={cfg.train.batch_size} must divide evenly among {dist.world_size} "
                          "processes (it is the global batch).")
    random.seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)

    data = from_config(cfg.data)
    check_processes_agree(dist, "data", data_fingerprint(data), "Every process must read the same data: check "
                          "data.source on every node.", where=data.source)
    meta = data_meta(data)
    loader = make_loader(data, cfg.train.batch_size, device, hflip=cfg.data.hflip, seed=cfg.train.seed,
                         resident=cfg.data.resident, num_workers=cfg.data.num_workers, rank=dist.rank,
                         world_size=dist.world_size)
    ckpts = list_checkpoints(run_dir / "checkpoints") if resume else []
    last_ckpt = ckpts[-1][1] if ckpts else None
    # checked before DDP exists: a process that stops while DDP holds the process group aborts at exit
    check_processes_agree(dist, "resumed step", {"step": ckpts[-1][0] if ckpts else 0}, "Every process must see "
                          "the same run folder: give --outdir on a file system that all nodes share.",
                          where=f"from {last_ckpt}" if last_ckpt else f"no checkpoint in {run_dir / 'checkpoints'}")
    t = Trainer.build(cfg, data.num_classes, data.resolution, data.channels, device, dist)
    if last_ckpt is not None:
        _restore(t, loader, last_ckpt, data, device)
    main = dist.is_main
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    if main and last_ckpt is not None:
        print(f"Resuming from {last_ckpt} at step {t.step}" + (f" (torchrun restart {restart})" if restart else "")
              + ".", flush=True)
    elif main and resume:
        print(f"Starting a new run in {run_dir}: no checkpoint there yet.", flush=True)
    if main:
        save_config(cfg, run_dir / "config.yaml")

    evaluator = TrainingEvaluator(cfg, data, device, dist) if cfg.train.eval_every > 0 else None
    best = run_dir / "checkpoints" / "best.pt"
    if evaluator is not None and resume and best.is_file():  # a resumed run must beat its own best
        evaluator.best = load_checkpoint(best).get("best", {}).get("value")
    logger = RunLogger(run_dir, cfg.train.steps, t.step, progress and main, write=main)
    monitor = DivergenceMonitor()
    images_per_step = cfg.train.batch_size * cfg.train.d_steps
    rollbacks = 0
    agree_to_stop = LaggedAny(dist)
    try:
        with StopSignals() as stop:
            while t.step < cfg.train.steps:
                stats = train_step(t, loader)
                monitor.watch(stats, t.step)
                logger.accumulate(stats)
                logger.bar.update(1)
                log = t.step % cfg.train.log_every == 0
                stopping = agree_to_stop(stop.requested is not None)  # under torchrun: all, one step later
                done = t.step == cfg.train.steps or stopping
                log = log or done
                grid = t.step % cfg.train.grid_every == 0 or done
                ckpt = t.step % cfg.train.ckpt_every == 0 or done
                evaluate = evaluator is not None and (t.step % cfg.train.eval_every == 0 or done)
                if log or grid or ckpt or evaluate:  # sync points anyway: check finiteness here, not in the step
                    try:
                        _check_finite(t, monitor)
                    except DivergenceError as e:
                        rollbacks = _roll_back_or_raise(e, t, loader, last_ckpt, rollbacks, data, logger, monitor)
                        continue
                if log:
                    logger.flush(t.step, images_per_step, reduce=dist.mean)
                if grid or ckpt or evaluate:
                    refresh_standing_stats(t)
                if grid and main:
                    write_grid(t, meta, run_dir, logger)
                if ckpt:
                    last_ckpt = _checkpoint_on_main(t, loader, meta, run_dir)
                if evaluate:
                    row = {"step": t.step, **evaluator(t.G_ema, meta["class_names"])}
                    logger.write(row)
                    if main and evaluator.is_best(row):  # kept beside the last K, never pruned, never resumed from
                        save_training_checkpoint(t, loader, meta, run_dir, name="best.pt",
                                                 best={"metric": evaluator.best_key, "value": evaluator.best})
                if stopping:
                    agree_to_stop.result()
                    signum = stop.requested or signal.SIGTERM
                    raise TrainingInterrupted(
                        f"Stopped by {signal.Signals(signum).name} at step {t.step}; checkpoint {last_ckpt} "
                        f"written. Continue with: condgan train --outdir {run_dir} --resume", signum)
            agree_to_stop.result()
    finally:
        logger.close()
        loader.close()
    if last_ckpt is None:  # steps already reached: still leave a checkpoint behind
        last_ckpt = _checkpoint_on_main(t, loader, meta, run_dir)
    return last_ckpt


def time_steps(t: Trainer, loader, steps: int, warmup: int) -> dict[str, float]:
    """Wall time of `steps` training steps after `warmup` untimed ones (used by `condgan bench`)."""
    def sync() -> None:
        if t.device.type == "cuda":
            torch.cuda.synchronize(t.device)
    for _ in range(warmup):
        train_step(t, loader)
    sync()
    if t.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(t.device)
    start = time.perf_counter()
    for _ in range(steps):
        stats = train_step(t, loader)
    sync()
    seconds = time.perf_counter() - start
    assert all(torch.isfinite(v).all() for v in stats.values()), "non-finite loss while benchmarking"
    return {"ms_per_step": 1000 * seconds / steps,
            "images_per_sec": steps * t.cfg.train.batch_size * t.cfg.train.d_steps / seconds}


__all__ = ["DivergenceError", "RunExistsError", "Trainer", "TrainingInterrupted", "train", "train_step",
           "time_steps"]
