"""Typed run configuration: dataclasses with defaults, presets as YAML files, `key=value` overrides.

Why dataclasses: every option has one place, one type and one default, and a misspelt key is an error
that names the closest valid key instead of being silently ignored.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from .errors import CondganError

PRESET_DIR = Path(__file__).parent / "presets"


class ConfigError(CondganError, ValueError):
    """A preset, config file or override is invalid; the message names the key or value at fault."""


@dataclass
class DataConfig:
    source: str = "digits"           # "digits" (embedded), an .npz, a folder of class folders, a CIFAR tar.gz,
                                     # a `condgan prepare` store, a StyleGAN .zip, a StudioGAN .hdf5
    split: str = "train"
    num_classes: int | None = None   # None: taken from the data
    resolution: int | None = None    # resize in-memory data once to this size; None: native size
    hflip: bool = False              # random horizontal flips of real images
    resident: str = "auto"           # auto | yes | no: hold the uint8 dataset on the accelerator
    num_workers: int = 4             # streaming loader only
    max_resident_bytes: int = 8 << 30  # a class-folder source larger than this (decoded) streams from disk;
                                     # a prepared store larger than this is memory-mapped
    conditional: bool = True         # false: ignore the labels (one class), e.g. Stacked MNIST mode counting


@dataclass
class GeneratorConfig:
    arch: str = "biggan"             # biggan | r3gan
    ch: int = 96                     # biggan: base width; per-resolution multipliers come from the block layout
    z_dim: int = 80
    shared_dim: int = 128            # shared class embedding (r3gan: the class embedding concatenated to z)
    hier: bool = True                # hierarchical latent: z split into one chunk per block (+1 for the input)
    attn_res: int | None = 16        # resolution after which a self-attention block is inserted; None: none
    spectral_norm: bool = True
    bn_eps: float = 1e-4
    init: str = "ortho"              # ortho | normal | xavier
    widths: tuple[int, ...] = ()     # r3gan: channels per resolution, 4x4 first
    blocks: int = 2                  # r3gan: residual blocks per resolution
    group_size: int = 16             # r3gan: channels per group of the grouped 3x3 conv
    expansion: int = 2               # r3gan: inverted-bottleneck expansion
    bf16_stages: tuple[int, ...] = ()  # r3gan: stages (4x4 = 0) that an imported network ran in bf16 (the
                                     # official FP16Stages); used only under G.official_precision()


@dataclass
class DiscriminatorConfig:
    arch: str = "biggan"             # biggan | r3gan
    ch: int = 96
    attn_res: int | None = 16
    spectral_norm: bool = True
    head: str = "projection"         # projection | projection_only (<embed(y), h> alone: R3GAN's code) |
                                     # classifier (ACGAN) | embedding (ReACGAN's D2D-CE)
    embed_dim: int = 512             # embedding head: size of the projected features and class proxies
    classifier_bias: bool = True     # classifier head: a bias on the class logits (false: StudioGAN's ACGAN)
    block_form: str = "biggan-pytorch"  # biggan: what a D block's shortcut reads: biggan-pytorch (x) |
                                     # studiogan (relu(x): StudioGAN's in-place ReLU)
    init: str = "ortho"
    widths: tuple[int, ...] = ()     # r3gan: channels per resolution, 4x4 first (D reads them in reverse)
    blocks: int = 2
    group_size: int = 16
    expansion: int = 2


@dataclass
class LossConfig:
    adversarial: str = "hinge"       # hinge | nonsaturating | rpgan (relativistic pairing, R3GAN)
    cond: str = "none"               # none (projection) | ce (ACGAN) | d2dce (ReACGAN) | d2dce_noess | proxy_nce
    cond_lambda: float = 1.0         # weight of the conditioning loss, for D and for G
    cond_on_fake: bool = False       # ACGAN: D's classifier also learns the labels of fakes (original ACGAN)
    temperature: float = 0.5         # D2D-CE / proxy NCE temperature
    m_p: float = 0.98                # D2D-CE positive margin
    m_n: float | None = None         # D2D-CE negative margin; None: 1 - m_p
    d2dce_form: str = "paper"        # paper (Eq. 6) | studiogan (the official code: negatives scaled by e^-max)
    fake_labels: str = "auto"        # class labels of the fakes: uniform | real (those of the paired real batch,
                                     # as R3GAN's code) | auto (real under rpgan, uniform otherwise)
    cr_lambda: float = 0.0           # consistency regularisation weight (0: off)
    r1_gamma: float = 0.0            # gamma/2 * E|grad D(real)|^2 (0: off)
    r2_gamma: float = 0.0            # gamma/2 * E|grad D(fake)|^2 (0: off)
    g_ortho: float = 0.0             # BigGAN orthogonal regularisation beta on G (off-diagonal form)
    d_ortho: float = 0.0


@dataclass
class AugmentConfig:
    policy: str = ""                 # DiffAugment ops for every D input, e.g. "color,translation,cutout"
    p: float = 1.0                   # probability of each op per image (the start value when ADA is on)
    ada_target: float = 0.0          # ADA: steer p so E[sign D(real)] -> target (0: off; 0.6 in the ADA paper)
    ada_interval: int = 4            # ADA: D steps between adjustments
    ada_kimg: float = 500.0          # ADA: thousands of images for p to move by 1


@dataclass
class ScheduleConfig:
    """R3GAN's burn-in: cosine from a start value to the configured value over `burn_in_kimg`."""
    burn_in_kimg: float = 0.0        # 0: no schedule
    lr_start: float | None = None    # G and D learning rates (end: optim.g_lr / optim.d_lr)
    gamma_start: float | None = None  # R1/R2 gamma (end: loss.r1_gamma / loss.r2_gamma)
    beta2_start: float | None = None  # Adam beta2 (end: optim.*_betas[1])
    ema_halflife_start_kimg: float | None = None  # (end: train.ema_halflife_kimg)
    aug_p_start: float | None = None  # (end: augment.p)


@dataclass
class OptimConfig:
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    g_betas: tuple[float, float] = (0.5, 0.999)
    d_betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-6
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    batch_size: int = 64
    d_steps: int = 2                 # D updates per G update; one "step" is one G update
    steps: int = 100_000
    seed: int = 0
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    precision: str = "fp32"          # fp32 | bf16 (autocast, fp32 master weights)
    ema_decay: float = 0.9999
    ema_halflife_kimg: float | None = None  # if set, replaces ema_decay: half-life in thousands of images
    ema_start: int = 1000            # G_ema copies G until this step
    standing_stats: int = 16         # batches for the EMA generator's standing BatchNorm statistics (0: off)
    log_every: int = 50
    grid_every: int = 1000
    ckpt_every: int = 5000
    keep_ckpts: int = 3              # keep the K newest checkpoints
    grid_classes: int = 10           # rows of the per-class sample grid
    grid_per_class: int = 8
    threads: int = 0                 # CPU threads for torch (0: torch's default)
    eval_every: int = 0              # evaluate G_ema every N steps (0: never during training)
    eval_metrics: str = "fid"        # comma-separated, as `condgan evaluate --metrics`
    eval_samples: int = 10_000
    evaluator: str = "inception"     # inception, or a domain evaluator file (`condgan evaluator train`)
    inception_weights: str | None = None
    best_metric: str = "fid"         # best.pt: a metric of eval_metrics (kid) or a key (recall); metrics/registry.py
    on_divergence: str = "stop"      # stop | rollback: what a NaN/Inf loss or weight does
    rollback_lr_factor: float = 0.5  # rollback: learning rates are multiplied by this
    max_rollbacks: int = 3
    deterministic: bool = False
    channels_last: bool = False      # NHWC memory layout for G, D and their inputs (faster convs on GPUs)
    compile: str = "off"             # torch.compile G and D: off | default | reduce-overhead | max-autotune | eager
    plain: bool = False              # every speed option off: fp32, eager, NCHW, unfused Adam (reference path)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    G: GeneratorConfig = field(default_factory=GeneratorConfig)
    D: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for section in d.values():  # tuples become lists so YAML/JSON stay plain
            if isinstance(section, dict):
                for k, v in section.items():
                    if isinstance(v, tuple):
                        section[k] = list(v)
        return d


SECTIONS = [f.name for f in dataclasses.fields(Config) if dataclasses.is_dataclass(f.default_factory)]  # type: ignore[arg-type]


def all_keys() -> list[str]:
    """Every valid dotted key, e.g. 'train.batch_size'."""
    cfg = Config()
    keys = []
    for f in dataclasses.fields(cfg):
        sub = getattr(cfg, f.name)
        if dataclasses.is_dataclass(sub):
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(sub)]
        else:
            keys.append(f.name)
    return keys


def _suggest(key: str) -> str:
    keys = all_keys()
    leaves = {k.split(".")[-1]: k for k in keys}
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    if not close:
        leaf = difflib.get_close_matches(key.split(".")[-1], list(leaves), n=1, cutoff=0.5)
        close = [leaves[leaf[0]]] if leaf else []
    return f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(keys)}."


def resolve_key(key: str) -> str:
    """Map a dotted key, or a leaf name that is unique across sections, to its dotted form."""
    keys = all_keys()
    if key in keys:
        return key
    matches = [k for k in keys if k.split(".")[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(f"Config key '{key}' is ambiguous: write one of {', '.join(matches)}.")
    raise ConfigError(f"Unknown config key '{key}'.{_suggest(key)}")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the field's declared type, or fail naming the key."""
    origin, args = get_origin(hint), get_args(hint)
    optional = type(None) in args
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"Config key '{key}' cannot be null.")
    if type(None) in args:  # Optional[X]
        hint = next(a for a in args if a is not type(None))
        origin, args = get_origin(hint), get_args(hint)
    try:
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            if isinstance(value, str):
                value = yaml.safe_load(value if value.startswith("[") else f"[{value}]")
            if isinstance(value, int):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise ValueError("expected a list")
            return tuple(_coerce(v, args[0], key) for v in value)
        if origin is tuple:
            if isinstance(value, str):
                value = yaml.safe_load(value if value.startswith("[") else f"[{value}]")
            if not isinstance(value, (list, tuple)) or len(value) != len(args):
                raise ValueError(f"expected {len(args)} values")
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        if hint is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError("expected true/false")
            if isinstance(value, (bool, int)):
                return bool(value)
            raise ValueError("expected true/false")
        if hint is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            if isinstance(value, str):
                value = float(value) if any(c in value for c in ".eE") and not value.lstrip("-").isdigit() else value
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Config key '{key}': cannot use {value!r} ({e}).") from None
    return value


def _apply(cfg: Config, flat: dict[str, Any], origin: str) -> set[str]:
    """Set every key of `flat` on `cfg`; returns the dotted keys set."""
    done = set()
    for raw_key, value in flat.items():
        try:
            key = resolve_key(raw_key)
        except ConfigError as e:
            raise ConfigError(f"{origin}: {e}") from None
        parts = key.split(".")
        target = cfg if len(parts) == 1 else getattr(cfg, parts[0])
        hints = get_type_hints(type(target))
        setattr(target, parts[-1], _coerce(value, hints[parts[-1]], key))
        done.add(key)
    return done


def _flatten(tree: dict[str, Any], origin: str) -> dict[str, Any]:
    flat = {}
    for k, v in tree.items():
        if k in SECTIONS:
            if not isinstance(v, dict):
                raise ConfigError(f"{origin}: section '{k}' must be a mapping, got {v!r}.")
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


def flat_config(tree: dict[str, Any]) -> dict[str, Any]:
    """A config's `to_dict()` as {"section.key": value}, the names overrides use, so two configs compare key
    by key (benchmarks' reproduction checks, the processes of a distributed run)."""
    return {f"{s}.{k}" if isinstance(sub, dict) else s: v
            for s, sub in tree.items() for k, v in (sub.items() if isinstance(sub, dict) else [(None, sub)])}


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name_or_file: str) -> Path:
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml") or os.sep in name_or_file:
        if not p.is_file():
            raise ConfigError(f"Preset file '{name_or_file}' does not exist.")
        return p
    p = PRESET_DIR / f"{name_or_file}.yaml"
    if not p.is_file():
        names = list_presets()
        close = difflib.get_close_matches(name_or_file, names, n=1, cutoff=0.4)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"Unknown preset '{name_or_file}'.{hint} Presets: {', '.join(names)}.")
    return p


def load_config(preset: str | None = "digits", overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Defaults <- preset file <- overrides ('key=value' strings or a dict)."""
    cfg = Config()
    if preset:
        path = preset_path(preset)
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"Preset file '{path}' is not valid YAML: {e}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"Preset file '{path}' must be a mapping of sections.")
        _apply(cfg, _flatten(tree, str(path)), f"preset '{path}'")
        cfg.preset = cfg.preset or path.stem
    if overrides:
        if isinstance(overrides, dict):
            flat = dict(overrides)
        else:
            flat = {}
            for item in overrides:
                if "=" not in item:
                    raise ConfigError(f"Override '{item}' must look like key=value (e.g. train.steps=1000).")
                k, v = item.split("=", 1)
                flat[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        overridden = _apply(cfg, flat, "override")
    else:
        overridden = set()
    validate(cfg, overridden)
    return cfg


def config_from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a Config from its `to_dict()` form (e.g. from a checkpoint)."""
    cfg = Config()
    _apply(cfg, _flatten(tree, "checkpoint config"), "checkpoint config")
    return cfg


def validate(cfg: Config, explicit: set[str] | frozenset[str] = frozenset()) -> None:
    """Check every value; `explicit`: keys the user set (overrides), each of which the chosen parts must read."""
    def check(ok: bool, key: str, msg: str) -> None:
        if not ok:
            raise ConfigError(f"Config key '{key}' = {_get(cfg, key)!r}: {msg}")
    t = cfg.train
    check(t.batch_size > 0, "train.batch_size", "must be positive.")
    check(t.d_steps >= 1, "train.d_steps", "must be at least 1.")
    check(t.steps >= 0, "train.steps", "must be non-negative.")
    check(0.0 <= t.ema_decay < 1.0, "train.ema_decay", "must lie in [0, 1).")
    check(t.precision in ("fp32", "bf16"), "train.precision", "must be fp32 or bf16.")
    check(t.compile in ("off", "default", "reduce-overhead", "max-autotune", "eager"), "train.compile",
          "must be off, default, reduce-overhead, max-autotune or eager.")
    check(t.on_divergence in ("stop", "rollback"), "train.on_divergence", "must be stop or rollback.")
    check(0.0 < t.rollback_lr_factor <= 1.0, "train.rollback_lr_factor", "must lie in (0, 1].")
    check(cfg.data.resident in ("auto", "yes", "no"), "data.resident", "must be auto, yes or no.")
    check(cfg.data.split in ("train", "test"), "data.split", "must be train or test.")
    check(cfg.data.max_resident_bytes >= 0, "data.max_resident_bytes", "must be non-negative (bytes).")
    from .losses import ADVERSARIAL, CONDITIONING
    check(cfg.loss.adversarial in ADVERSARIAL, "loss.adversarial", f"must be one of {', '.join(ADVERSARIAL)}.")
    check(cfg.loss.cond == "none" or cfg.loss.cond in CONDITIONING, "loss.cond",
          f"must be none or one of {', '.join(CONDITIONING)}.")
    needed_head = CONDITIONING[cfg.loss.cond].head if cfg.loss.cond != "none" else None
    check(needed_head in (None, cfg.D.head), "loss.cond", f"needs D.head={needed_head} (D.head is {cfg.D.head!r}).")
    from .models import BACKBONES, HEADS
    for side in ("G", "D"):
        check(_get(cfg, f"{side}.arch") in BACKBONES, f"{side}.arch", f"must be one of {', '.join(BACKBONES)}.")
    check(cfg.G.arch == cfg.D.arch, "D.arch", f"differs from G.arch={cfg.G.arch!r}: use the same backbone for both.")
    check(cfg.D.head in HEADS, "D.head", f"must be one of {', '.join(HEADS)}.")
    check(cfg.loss.cond != "none" or HEADS[cfg.D.head].reads_label or not cfg.data.conditional, "D.head",
          "a classifier or embedding head needs a conditioning loss: set loss.cond.")
    _check_parts_read(cfg, explicit)
    from .models.biggan import D_BLOCK_FORMS
    check(cfg.D.block_form in D_BLOCK_FORMS, "D.block_form", f"must be one of {', '.join(D_BLOCK_FORMS)}.")
    check(0.0 < cfg.loss.temperature, "loss.temperature", "must be positive.")
    from .losses.conditional import D2DCE_FORMS
    check(cfg.loss.d2dce_form in D2DCE_FORMS, "loss.d2dce_form", f"must be one of {', '.join(D2DCE_FORMS)}.")
    check(cfg.loss.fake_labels in ("auto", "uniform", "real"), "loss.fake_labels", "must be auto, uniform or real.")
    for k in ("loss.cond_lambda", "loss.cr_lambda", "loss.r1_gamma", "loss.r2_gamma"):
        check(_get(cfg, k) >= 0, k, "must be non-negative.")
    check(0.0 <= cfg.augment.p <= 1.0, "augment.p", "must lie in [0, 1].")
    from .augment import POLICIES
    bad = [op for op in cfg.augment.policy.split(",") if op.strip() and op.strip() not in POLICIES]
    check(not bad, "augment.policy", f"unknown op {', '.join(map(repr, bad))}; valid: {', '.join(POLICIES)}.")
    check(0.0 <= cfg.augment.ada_target < 1.0, "augment.ada_target", "must lie in [0, 1) (0: off).")
    check(cfg.augment.ada_interval >= 1, "augment.ada_interval", "must be at least 1.")
    check(cfg.schedule.burn_in_kimg >= 0, "schedule.burn_in_kimg", "must be non-negative.")
    check(cfg.G.z_dim > 0, "G.z_dim", "must be positive.")
    check(t.eval_every >= 0, "train.eval_every", "must be 0 (off) or positive.")
    from .metrics.registry import config_problem   # metric names, keys and needs: the metric registry
    bad_metric = config_problem(t.eval_metrics, t.best_metric, cfg.data.conditional, t.eval_every > 0)
    check(bad_metric is None, *(bad_metric or ("", "")))
    for k in ("train.log_every", "train.grid_every", "train.ckpt_every"):
        check(_get(cfg, k) > 0, k, "must be positive.")


def _check_parts_read(cfg: Config, explicit: set[str] | frozenset[str]) -> None:
    """A G.*/D.* key the user set must be read by the chosen backbone or head: `G.ch=256` on an R3GAN
    preset would otherwise do nothing. The error names the parts that read it."""
    from .models import BACKBONES, HEADS
    backbone, head = BACKBONES[cfg.G.arch], HEADS[cfg.D.head]
    read = ({f"G.{k}" for k in backbone.g_keys} | {f"D.{k}" for k in backbone.d_keys | set(head.options)}
            | {"G.arch", "D.arch"})
    for key in sorted(k for k in explicit if k.split(".")[0] in ("G", "D") and k not in read):
        side, leaf = key.split(".")
        readers = [f"the {name} backbone" for name, b in BACKBONES.items() if leaf in (b.g_keys if side == "G" else b.d_keys)]
        readers += [f"the {name} head" for name, h in HEADS.items() if side == "D" and leaf in h.options]
        raise ConfigError(f"Config key '{key}' = {_get(cfg, key)!r} is not read by G.arch={cfg.G.arch!r} / "
                          f"D.head={cfg.D.head!r}; it is read by {' and '.join(readers) or 'no part'}.")


def _get(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for p in key.split("."):
        obj = getattr(obj, p)
    return obj


def save_config(cfg: Config, path: Path) -> None:
    """Written atomically: `--resume` reads it back, so it must never be half-written."""
    from .io import atomic_write
    atomic_write(path, lambda f: f.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False)), text=True)
