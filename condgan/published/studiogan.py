"""StudioGAN checkpoints (github.com/POSTECH-CVLab/PyTorch-StudioGAN, `big_resnet` backbone) into condgan.

A StudioGAN run is its YAML (read here as data: StudioGAN's code is never imported) plus
`model=G_ema-…-weights-step=N.pth`, `model=G-…` and `model=D-…`: dicts whose `state_dict` holds the
network. condgan's BigGAN equals `big_resnet` with cBN in G and the PD / AC / D2DCE heads in D, so import
is renaming tensors; every other StudioGAN setting is refused by name rather than approximated.

Latents: StudioGAN draws z ~ N(0, I) (`-trunc F`: scipy's truncnorm on [-F, F]); `condgan sample
--truncation F` redraws |z| > F, the same distribution. G takes the whole z (chunk 0 feeds the first linear
layer, chunk k block k) and the class index, exactly as StudioGAN's G(z, label); a seed is condgan's
torch.Generator, so the same seed does not give StudioGAN's images, the same z and label do. Sampling uses
G in eval mode with the BN running statistics in the file (StudioGAN's default; its -std_stat is not applied).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import yaml
from torch import nn

from ..config import ConfigError, load_config
from .base import Imported, PublishedModelError, check_state
from .state import convert_state, read_pth, rename, sha256, shapes_only, strip_module_prefix

# ---------------------------------------------------------------------------------------------------------
# The StudioGAN YAML
# ---------------------------------------------------------------------------------------------------------

# StudioGAN's defaults (src/config.py, load_base_cfgs) for the keys this importer reads.
DEFAULTS: dict[str, dict[str, Any]] = {
    "DATA": {"name": "CIFAR10", "img_size": 32, "num_classes": 10, "img_channels": 3},
    "MODEL": {"backbone": "resnet", "g_cond_mtd": "W/O", "d_cond_mtd": "W/O", "aux_cls_type": "W/O",
              "normalize_d_embed": False, "d_embed_dim": "N/A", "apply_g_sn": False, "apply_d_sn": False,
              "g_act_fn": "ReLU", "d_act_fn": "ReLU", "apply_attn": False, "attn_g_loc": ["N/A"],
              "attn_d_loc": ["N/A"], "z_prior": "gaussian", "z_dim": 128, "w_dim": "N/A", "g_shared_dim": "N/A",
              "g_conv_dim": 64, "d_conv_dim": 64, "g_depth": "N/A", "d_depth": "N/A", "apply_g_ema": False,
              "g_ema_decay": "N/A", "g_ema_start": "N/A", "g_init": "ortho", "d_init": "ortho",
              "info_type": "N/A", "g_info_injection": "N/A"},
    "LOSS": {"adv_loss": "vanilla", "cond_lambda": "N/A", "m_p": "N/A", "temperature": "N/A"},
    "OPTIMIZATION": {"type_": "Adam", "batch_size": 64, "acml_steps": 1, "g_lr": 0.0002, "d_lr": 0.0002,
                     "g_weight_decay": 0.0, "d_weight_decay": 0.0, "beta1": 0.5, "beta2": 0.999, "d_first": True,
                     "g_updates_per_step": 1, "d_updates_per_step": 5, "total_steps": 100000},
    "PRE": {"apply_rflip": True},
    "AUG": {},
}
# Values condgan implements, for the keys that select an architecture or a method (others are mapped).
ONLY: dict[str, tuple] = {
    "DATA.img_size": (32, 64, 128), "DATA.img_channels": (3,),
    "MODEL.backbone": ("big_resnet",), "MODEL.g_cond_mtd": ("cBN",), "MODEL.d_cond_mtd": ("PD", "AC", "D2DCE"),
    "MODEL.aux_cls_type": ("W/O",), "MODEL.apply_g_sn": (True,), "MODEL.apply_d_sn": (True,),
    "MODEL.g_act_fn": ("ReLU",), "MODEL.d_act_fn": ("ReLU",), "MODEL.z_prior": ("gaussian",),
    "MODEL.info_type": ("N/A",), "MODEL.g_info_injection": ("N/A",), "MODEL.g_depth": ("N/A",),
    "MODEL.d_depth": ("N/A",), "MODEL.g_init": ("ortho", "N02", "glorot", "xavier"),
    "MODEL.d_init": ("ortho", "N02", "glorot", "xavier"), "LOSS.adv_loss": ("hinge", "vanilla"),
    "OPTIMIZATION.type_": ("Adam",), "OPTIMIZATION.g_updates_per_step": (1,), "OPTIMIZATION.d_first": (True,),
}
OFF = (False, "N/A", "W/O", None)          # a key outside DEFAULTS may be present only with one of these
IGNORED_SECTIONS = ("RUN", "STYLEGAN")     # run-time switches, and keys only the StyleGAN backbones read
PRESETS = {  # (DATA.name, d_cond_mtd) -> the condgan preset the run follows; else by resolution
    ("CIFAR10", "PD"): "cifar10-biggan", ("CIFAR10", "AC"): "cifar10-acgan", ("CIFAR10", "D2DCE"): "cifar10-reacgan",
    ("Tiny_ImageNet", "D2DCE"): "tiny-imagenet-reacgan", ("CUB200", "D2DCE"): "cub200-reacgan",
    ("ImageNet", "D2DCE"): "imagenet128-reacgan", ("ImageNet", "PD"): "imagenet128-biggan",
}
BY_RESOLUTION = {32: "cifar10-biggan", 64: "tiny-imagenet-reacgan", 128: "imagenet128-reacgan"}
HEADS = {"PD": "projection", "AC": "classifier", "D2DCE": "embedding"}
INITS = {"ortho": "ortho", "N02": "normal", "glorot": "xavier", "xavier": "xavier"}


def read_settings(path: Path) -> dict[str, dict[str, Any]]:
    """The run's YAML over StudioGAN's defaults; a setting condgan does not implement raises, naming it."""
    path = Path(path)
    try:
        tree = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PublishedModelError(f"StudioGAN config '{path}' does not exist.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PublishedModelError(f"StudioGAN config '{path}' is not valid YAML: {e}") from None
    if isinstance(tree, dict):
        tree = {sec: keys if keys is not None else {} for sec, keys in tree.items()}   # an empty section
    if not isinstance(tree, dict) or not all(isinstance(v, dict) for v in tree.values()):
        raise PublishedModelError(f"StudioGAN config '{path}' is not a StudioGAN YAML (sections of key: value).")
    s = {sec: dict(keys) for sec, keys in DEFAULTS.items()}
    for sec, keys in tree.items():
        if sec in IGNORED_SECTIONS:
            continue
        if sec not in s:
            raise PublishedModelError(f"StudioGAN config '{path}': unknown section '{sec}'.")
        for k, v in keys.items():
            if k not in DEFAULTS[sec] and v not in OFF:
                raise PublishedModelError(f"StudioGAN config '{path}': {sec}.{k}={v!r} is not implemented by "
                                          "condgan's importer; only runs without it can be imported.")
            s[sec][k] = v
    for key, allowed in ONLY.items():
        sec, k = key.split(".")
        if s[sec][k] not in allowed:
            raise PublishedModelError(f"StudioGAN config '{path}': {key}={s[sec][k]!r} is not implemented by "
                                      f"condgan (supported: {', '.join(map(str, allowed))}).")
    m = s["MODEL"]
    # D2D-CE reads normalised embeddings; condgan's classifier head reads raw features.
    want_norm = {"D2DCE": True, "AC": False}.get(m["d_cond_mtd"])
    if want_norm is not None and bool(m["normalize_d_embed"]) != want_norm:
        raise PublishedModelError(f"StudioGAN config '{path}': MODEL.normalize_d_embed={m['normalize_d_embed']!r} "
                                  f"with d_cond_mtd={m['d_cond_mtd']} is not implemented by condgan.")
    for side in ("g", "d"):
        locs = m[f"attn_{side}_loc"] if m["apply_attn"] else []
        if len(locs) > 1:
            raise PublishedModelError(f"StudioGAN config '{path}': MODEL.attn_{side}_loc={locs!r}: condgan has one "
                                      "attention block per network.")
    if s["OPTIMIZATION"]["g_weight_decay"] != s["OPTIMIZATION"]["d_weight_decay"]:
        raise PublishedModelError(f"StudioGAN config '{path}': OPTIMIZATION.g_weight_decay != d_weight_decay is "
                                  "not implemented by condgan (one optim.weight_decay).")
    return s


def _g_attn_res(loc: int) -> int:
    """StudioGAN's attn_g_loc counts G blocks from 1; G starts at 4x4 and each block doubles."""
    return 4 * 2 ** loc


def _d_attn_res(loc: int, resolution: int) -> int:
    """attn_d_loc counts D blocks from 1; condgan places attention by the resolution after that block."""
    from ..models.biggan import D_LAYOUTS
    res = resolution
    for _, down in D_LAYOUTS[resolution][:loc]:
        res //= 2 if down else 1
    return res


def to_condgan(s: dict[str, dict[str, Any]], num_classes: int | None = None, resolution: int | None = None):
    """StudioGAN settings -> (condgan Config, data dict)."""
    d, m, loss, opt = s["DATA"], s["MODEL"], s["LOSS"], s["OPTIMIZATION"]
    res = int(resolution or d["img_size"])
    k = int(num_classes or d["num_classes"])
    preset = PRESETS.get((d["name"], m["d_cond_mtd"]), BY_RESOLUTION.get(res, "cifar10-biggan"))
    head = HEADS[m["d_cond_mtd"]]
    attn = m["apply_attn"]
    o: dict[str, Any] = {
        "data.num_classes": k, "data.resolution": res, "data.hflip": bool(s["PRE"]["apply_rflip"]),
        "G.arch": "biggan", "G.ch": m["g_conv_dim"], "G.z_dim": m["z_dim"], "G.shared_dim": m["g_shared_dim"],
        "G.hier": True, "G.attn_res": _g_attn_res(m["attn_g_loc"][0]) if attn else None, "G.bn_eps": 1e-4,
        "G.spectral_norm": True, "G.init": INITS[m["g_init"]],
        "D.arch": "biggan", "D.ch": m["d_conv_dim"], "D.head": head, "D.block_form": "studiogan",
        "D.attn_res": _d_attn_res(m["attn_d_loc"][0], res) if attn else None, "D.spectral_norm": True,
        "D.init": INITS[m["d_init"]],
        "loss.adversarial": {"hinge": "hinge", "vanilla": "nonsaturating"}[loss["adv_loss"]],
        "loss.cond": {"PD": "none", "AC": "ce", "D2DCE": "d2dce"}[m["d_cond_mtd"]],
        "loss.g_ortho": 0.0, "loss.d_ortho": 0.0,          # StudioGAN has no orthogonal regularisation
        "optim.g_lr": opt["g_lr"], "optim.d_lr": opt["d_lr"], "optim.g_betas": [opt["beta1"], opt["beta2"]],
        "optim.d_betas": [opt["beta1"], opt["beta2"]], "optim.eps": 1e-6, "optim.weight_decay": opt["g_weight_decay"],
        "train.batch_size": opt["batch_size"] * opt["acml_steps"], "train.d_steps": opt["d_updates_per_step"],
        "train.steps": opt["total_steps"],
    }
    if m["apply_g_ema"] and m["g_ema_decay"] != "N/A":
        o.update({"train.ema_decay": m["g_ema_decay"], "train.ema_start": m["g_ema_start"]})
    if head == "classifier":
        o.update({"D.classifier_bias": False, "loss.cond_lambda": loss["cond_lambda"]})
    if head == "embedding":
        o.update({"D.embed_dim": m["d_embed_dim"], "loss.cond_lambda": loss["cond_lambda"],
                  "loss.temperature": loss["temperature"], "loss.m_p": loss["m_p"], "loss.d2dce_form": "studiogan"})
    try:
        cfg = load_config(preset, o)
    except ConfigError as e:
        raise PublishedModelError(f"StudioGAN config does not fit condgan: {e}") from None
    cfg.description = (f"Imported StudioGAN run ({d['name']}, big_resnet, d_cond_mtd={m['d_cond_mtd']}), "
                       f"settings mapped onto preset {preset}.")
    names = CLASS_NAMES.get(d["name"]) if k == d["num_classes"] else None
    data = {"num_classes": k, "class_names": names or [str(i) for i in range(k)], "resolution": res,
            "channels": 3, "source": d["name"]}
    return cfg, data


CLASS_NAMES = {"CIFAR10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}

# ---------------------------------------------------------------------------------------------------------
# Tensor names
# ---------------------------------------------------------------------------------------------------------

SN_PARTS = {"parametrizations.weight.original": "weight_orig", "parametrizations.weight.0._u": "weight_u",
            "parametrizations.weight.0._v": "weight_v"}     # torch.nn.utils.spectral_norm's names
BLOCK_PARTS = {"skip": "conv2d0", "conv1": "conv2d1", "conv2": "conv2d2", "theta": "conv1x1_theta",
               "phi": "conv1x1_phi", "g": "conv1x1_g", "o": "conv1x1_attn", "gamma": "sigma"}


def _sn(key: str) -> str:
    for ours, theirs in SN_PARTS.items():
        if key.endswith("." + ours):
            return key[: -len(ours)] + theirs
    return key


def g_names(G: nn.Module) -> Callable[[str], str]:
    """StudioGAN's G lists attention as a block of its own (blocks.j.0); condgan nests it in its block."""
    prefixes, j = {"linear": "linear0", "out_bn": "bn4", "out_conv": "conv2d5"}, 0
    for b, block in enumerate(G.blocks):
        for i in range(len(block)):
            prefixes[f"blocks.{b}.{i}"], j = f"blocks.{j}.0", j + 1
    return lambda key: _sn(rename(key, prefixes, BLOCK_PARTS))


def d_names(D: nn.Module) -> Callable[[str], str]:
    prefixes = {f"blocks.{k}": f"blocks.{k}.0" for k in range(len(D.blocks))}
    prefixes.update({"head.linear": "linear1", "head.embed": "embedding", "head.classifier": "linear2",
                     "head.project": "linear2", "head.proxies": "embedding"})
    return lambda key: _sn(rename(key, prefixes, BLOCK_PARTS))


def _shape(key: str, shape: tuple) -> tuple:
    return (1,) if key.endswith(".gamma") else shape      # StudioGAN's attention gain has shape (1,)


def read_state(path: Path, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A StudioGAN checkpoint: (its network state, the whole dict)."""
    ckpt = read_pth(path, what)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        hint = " (a plain state dict: is it a BigGAN-PyTorch file?)" if isinstance(ckpt, dict) else ""
        raise PublishedModelError(f"{what}: '{path}' is not a StudioGAN checkpoint: no 'state_dict' entry{hint}.")
    return strip_module_prefix(ckpt["state_dict"]), ckpt


def _step(ckpt: dict[str, Any], path: Path) -> int:
    if isinstance(ckpt.get("step"), int):
        return ckpt["step"]
    found = re.search(r"step=(\d+)", Path(path).name)
    return int(found.group(1)) if found else 0


def convert(config_yaml: Path, g_ema: Path, g: Path | None = None, d: Path | None = None,
            num_classes: int | None = None, resolution: int | None = None) -> Imported:
    """Read a StudioGAN run (its YAML and the G_ema / G / D files) into condgan state dicts."""
    settings = read_settings(config_yaml)
    cfg, data = to_condgan(settings, num_classes, resolution)
    G, D = shapes_only(cfg, data["num_classes"], data["resolution"], data["channels"])
    states, step, files = {}, 0, [{"name": Path(config_yaml).name, "sha256": sha256(config_yaml)}]
    for name, path, net, names in (("G_ema", g_ema, G, g_names(G)), ("G", g, G, g_names(G)),
                                   ("D", d, D, d_names(D))):
        if path is None:
            continue
        what = f"StudioGAN {name} from '{Path(path).name}'"
        official, ckpt = read_state(path, what)
        state, _ = convert_state(net, official, names, what, _shape)
        check_state(net, state, what)
        states[name], step = state, max(step, _step(ckpt, path))
        files.append({"name": Path(path).name, "sha256": sha256(path), "role": name})
    provenance = {"format": "studiogan", "files": files, "upstream": settings, "preset": cfg.preset,
                  "sampling": "G_ema in eval mode, BN running statistics from the file"}
    return Imported(cfg=cfg, data=data, G_ema=states["G_ema"], G=states.get("G"), D=states.get("D"),
                    provenance=provenance, step=step)
