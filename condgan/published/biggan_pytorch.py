"""BigGAN-PyTorch checkpoints (github.com/ajbrock/BigGAN-PyTorch) into condgan.

Its `G.pth`, `G_ema.pth` and `D.pth` are plain state dicts of BigGAN.py's Generator / Discriminator, with
its own spectral norm (`u0` vector, `sv0` logged value) and BatchNorm buffers (`stored_mean`/`stored_var`).
The preset (default `imagenet128-biggan`, the launch settings of the released 128 px model: ch 96, shared
embedding 128, hierarchical z of 120, attention at 64, BN eps 1e-5, SN eps 1e-6) fixes the shapes checked.

Latents: BigGAN-PyTorch splits z (dim 120) into 6 chunks of 20, chunk 0 into the first linear layer and
chunk k, concatenated after G.shared(y), into block k; condgan's G(z, y) does the same split, so one z gives
the same image. Its sampler draws z ~ N(0, z_var) with no truncation (`--z_var` scales z instead); `condgan
sample --truncation F` redraws |z| > F. Seeds are condgan's own: same seed, different z from BigGAN-PyTorch's.
Sampling uses eval mode with the stored (running or standing) statistics, as its sample.py with --G_eval_mode.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError, load_config
from .base import Imported, PublishedModelError, check_state
from .state import convert_state, read_pth, rename, sha256, shapes_only, strip_module_prefix

SN_EPS = 1e-6       # the launch script's --SN_eps: BigGAN-PyTorch's power iteration normalises with it
BN_EPS = 1e-5       # its --BN_eps, and the fixed eps of its output-layer `bn`
SN_PARTS = {"parametrizations.weight.original": "weight", "parametrizations.weight.0._u": "u0"}
BLOCK_PARTS = {"skip": "conv_sc", "running_mean": "stored_mean", "running_var": "stored_var"}


def _names(prefixes: dict[str, str]) -> Callable[[str], str | None]:
    def name(key: str) -> str | None:
        if key.endswith((".parametrizations.weight.0._v", ".num_batches_tracked")):
            return None                                     # derived below (v) or unused (eval BN)
        for ours, theirs in SN_PARTS.items():
            if key.endswith("." + ours):
                key = key[: -len(ours)] + theirs
        # ccbn holds its statistics itself (bn1.stored_mean), condgan in a child BatchNorm (bn1.bn.running_mean)
        key = key.replace(".bn.running_", ".running_")
        return rename(key, prefixes, BLOCK_PARTS)
    return name


def g_names(G: nn.Module) -> Callable[[str], str | None]:
    return _names({"out_bn.weight": "output_layer.0.gain", "out_bn": "output_layer.0",
                   "out_conv": "output_layer.2"})


def d_names(D: nn.Module) -> Callable[[str], str | None]:
    """BigGAN-PyTorch nests D's attention in the block before it (blocks.i.1); condgan lists it flat."""
    prefixes, i, s = {"head.linear": "linear", "head.embed": "embed"}, -1, 0
    for k, block in enumerate(D.blocks):
        i, s = (i + 1, 0) if not hasattr(block, "gamma") else (i, s + 1)
        prefixes[f"blocks.{k}"] = f"blocks.{i}.{s}"
    return _names(prefixes)


def _shape(key: str, shape: tuple) -> tuple:
    return (1, *shape) if key.endswith("._u") else shape    # u0 is stored as a (1, n) row


def _is_sv(key: str) -> bool:
    return key.endswith(".sv0")                             # logged singular value, not used by forward


def _finish_sn(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Turn u0 into torch's (u, v) so that condgan's eval-mode sigma = u.(W v) is BigGAN-PyTorch's: in eval
    it runs one power step from u0 without storing it, v = n(u0 W), u = n(v W^T), sigma = v W^T u^T."""
    for key in [k for k in module.state_dict() if k.endswith(".parametrizations.weight.0._v")]:
        base = key[: -len("0._v")]
        W = state[base + "original"].flatten(1)
        v = F.normalize(state[base + "0._u"][None] @ W, dim=1, eps=SN_EPS)
        u = F.normalize(v @ W.t(), dim=1, eps=SN_EPS)
        state[base + "0._u"], state[key] = u[0].clone(), v[0].clone()
    for key, ref in module.state_dict().items():
        if key.endswith(".num_batches_tracked"):
            state[key] = torch.zeros_like(ref)


def _check_preset(cfg) -> None:
    """The preset must describe BigGAN-PyTorch's networks; say which key does not."""
    need = {"G.arch": "biggan", "G.hier": True, "G.spectral_norm": True, "G.bn_eps": BN_EPS,
            "D.arch": "biggan", "D.head": "projection", "D.block_form": "biggan-pytorch", "D.spectral_norm": True}
    for key, want in need.items():
        sec, k = key.split(".")
        have = getattr(getattr(cfg, sec), k)
        if have != want:
            raise PublishedModelError(f"Preset '{cfg.preset}': {key}={have!r}, but BigGAN-PyTorch's networks need "
                                      f"{want!r}.")


def read_state(path: Path, what: str) -> dict[str, Any]:
    state = read_pth(path, what)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        hint = " (it has 'state_dict': use `condgan import studiogan`)" if isinstance(state, dict) and \
            "state_dict" in state else ""
        raise PublishedModelError(f"{what}: '{path}' is not a BigGAN-PyTorch state dict of tensors{hint}.")
    return strip_module_prefix(dict(state))


def convert(g_ema: Path, g: Path | None = None, d: Path | None = None, preset: str = "imagenet128-biggan",
            num_classes: int = 1000, resolution: int = 128) -> Imported:
    """Read BigGAN-PyTorch's G_ema.pth (and G.pth, D.pth) into condgan state dicts under `preset`."""
    if resolution != 128:
        raise PublishedModelError(f"BigGAN-PyTorch at {resolution} px: only 128 px is supported (its 32 and 64 px "
                                  "block layouts differ from condgan's).")
    try:
        cfg = load_config(preset, {"data.num_classes": num_classes, "data.resolution": resolution})
    except ConfigError as e:
        raise PublishedModelError(str(e)) from None
    _check_preset(cfg)
    G, D = shapes_only(cfg, num_classes, resolution, 3)
    states, files = {}, []
    for name, path, net, names in (("G_ema", g_ema, G, g_names(G)), ("G", g, G, g_names(G)), ("D", d, D, d_names(D))):
        if path is None:
            continue
        what = f"BigGAN-PyTorch {name} from '{Path(path).name}'"
        state, _ = convert_state(net, read_state(path, what), names, what, _shape, _is_sv)
        _finish_sn(net, state)
        check_state(net, state, what)
        states[name] = state
        files.append({"name": Path(path).name, "sha256": sha256(path), "role": name})
    provenance = {"format": "biggan-pytorch", "files": files, "preset": cfg.preset,
                  "upstream": {"G_ch": cfg.G.ch, "D_ch": cfg.D.ch, "dim_z": cfg.G.z_dim, "shared_dim": cfg.G.shared_dim,
                               "hier": True, "G_attn": cfg.G.attn_res, "D_attn": cfg.D.attn_res, "BN_eps": BN_EPS,
                               "SN_eps": SN_EPS, "n_classes": num_classes, "resolution": resolution},
                  "sampling": "G_ema in eval mode, stored BN statistics from the file (sample.py --G_eval_mode)"}
    data = {"num_classes": num_classes, "class_names": [str(i) for i in range(num_classes)],
            "resolution": resolution, "channels": 3, "source": "BigGAN-PyTorch"}
    return Imported(cfg=cfg, data=data, G_ema=states["G_ema"], G=states.get("G"), D=states.get("D"),
                    provenance=provenance, step=0)
