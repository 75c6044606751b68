"""Import R3GAN's network pickles (brownvc/R3GAN: `network-snapshot-*.pkl`, the released `.pkl` files).

Conventions. R3GAN's G takes noise z ~ N(0, I) of `NoiseDimension` (64) and a one-hot class vector c, which a
bias-free linear map embeds and concatenates to z: condgan's `G(z, y)` takes the same z and the class index y,
whose embedding row is that map's column y (so c = one_hot(y)); unconditional files become one class, y = 0.
R3GAN has no mapping network and no truncation: `condgan sample --truncation` acts on condgan's side only,
resampling |z| components above the threshold, which the official sampler never does; leave it off to match.
The official code runs some stages in bf16 (`FP16Stages`); they are recorded in the config key
`G.bf16_stages` (the D stages in the provenance) and used only inside `with G.official_precision():`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch

from ..config import load_config
from ..models import build_networks
from ..models.r3gan import _lowpass_kernel
from . import unpickle
from .base import Imported, PublishedModelError, check_state
from .state import sha256
from .unpickle import StandIn

PRESETS = ("cifar10-r3gan", "imagenet32-r3gan", "imagenet64-r3gan", "ffhq64-r3gan", "ffhq256-r3gan")
ARCH_KEYS = ("widths", "blocks", "group_size", "expansion")


# ---------------------------------------------------------------- walking the stand-ins

def _name(obj: Any) -> str:
    return obj.qualname.rsplit(".", 1)[-1] if isinstance(obj, StandIn) else type(obj).__name__


def _expect(obj: Any, cls: str, where: str) -> dict[str, Any]:
    """The pickled __dict__ of a StandIn whose class name ends in `cls` (any module path on the allow-list)."""
    if not (isinstance(obj, StandIn) and obj.qualname.rsplit(".", 1)[-1] == cls and isinstance(obj.state, dict)):
        raise PublishedModelError(f"{where}: expected an R3GAN {cls}, found {_name(obj)}.")
    return obj.state


def _children(obj: StandIn) -> dict[str, Any]:
    return dict(obj.state.get("_modules") or {})


def _tensors(obj: StandIn, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Parameters and persistent buffers by module path, as nn.Module.state_dict() would list them."""
    skip = set(obj.state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for k, t in (obj.state.get(kind) or {}).items():
            if t is not None and k not in skip:
                if not isinstance(t, torch.Tensor):
                    raise PublishedModelError(f"'{prefix}{k}' is a {type(t).__name__}, not a tensor.")
                yield prefix + k, t
    for k, child in _children(obj).items():
        if isinstance(child, StandIn):
            yield from _tensors(child, f"{prefix}{k}.")


def _stages(net: Any, kind: str, where: str) -> tuple[dict[str, torch.Tensor], list[StandIn], list[bool]]:
    """(the network's tensors by official path, its stages, whether each stage runs in bf16)."""
    _expect(net, kind, where)
    model = _children(net).get("Model")
    _expect(model, kind, f"{where}.Model")
    main = _children(model).get("MainLayers")
    _expect(main, "ModuleList", f"{where}.Model.MainLayers")
    stages = [_children(main)[k] for k in sorted(_children(main), key=int)]
    low = []
    for i, s in enumerate(stages):
        dtype = _expect(s, f"{kind}Stage", f"{where} stage {i}").get("DataType", torch.float32)
        if dtype not in (torch.float32, torch.bfloat16):
            raise PublishedModelError(f"{where} stage {i} runs in {dtype}; condgan knows fp32 and bf16 stages.")
        low.append(dtype == torch.bfloat16)
    return dict(_tensors(model)), stages, low


# ---------------------------------------------------------------- layout and renaming

def _layout(t: dict[str, torch.Tensor], stages: list[StandIn], G: bool, where: str) -> dict[str, Any]:
    """Infer widths (4x4 first), blocks, group size and expansion from the tensor shapes."""
    n, widths, blocks, groups, expansions = len(stages), [], [], set(), set()
    for i, s in enumerate(stages):
        layers = sorted(_children(_children(s)["Layers"]), key=int)
        res = [k for k in layers if _name(_children(_children(s)["Layers"])[k]) == "ResidualBlock"]
        blocks.append(len(res))
        if not res:
            raise PublishedModelError(f"{where} stage {i} has no residual block; condgan needs at least one.")
        p = f"MainLayers.{i}.Layers.{res[0]}."
        w1, w2 = t[p + "LinearLayer1.Layer.weight"], t[p + "LinearLayer2.Layer.weight"]
        if w2.shape[-1] != 3:
            raise PublishedModelError(f"{where}: kernel size {w2.shape[-1]}; condgan's R3GAN uses 3.")
        widths.append(w1.shape[1])
        groups.add(w2.shape[1])
        expansions.add(w1.shape[0] // w1.shape[1])
    for k, v in t.items():
        if k.endswith("Resampler.Kernel") and not (v.shape == (4, 4) and torch.allclose(v.float(), _lowpass_kernel())):
            raise PublishedModelError(f"{where}: '{k}' is not the [1, 2, 1] resampling filter condgan implements.")
    for name, values in (("blocks per stage", set(blocks)), ("group size", groups), ("expansion", expansions)):
        if len(values) != 1:
            raise PublishedModelError(f"{where}: {name} varies across stages ({sorted(values)}); condgan needs one.")
    return {"widths": widths if G else widths[::-1], "blocks": blocks[0], "group_size": groups.pop(),
            "expansion": expansions.pop(), "stages": n}


def _rename_G(t: dict[str, torch.Tensor], lay: dict[str, Any]) -> dict[str, torch.Tensor]:
    out, w = {}, lay["widths"]
    for k, v in t.items():
        parts = k.split(".")
        if k == "MainLayers.0.Layers.0.Basis":
            out["basis"] = v
        elif k == "MainLayers.0.Layers.0.LinearLayer.weight":
            out["modulation.weight"] = v
        elif k == "AggregationLayer.Layer.weight":
            out["to_rgb.weight"] = v
        elif k == "EmbeddingLayer.weight":
            out["embed.weight"] = v.t()            # Linear on a one-hot c == an embedding row
        elif k.endswith("Resampler.Kernel"):
            continue                               # checked in _layout; condgan's is a fixed constant
        elif parts[0] == "MainLayers" and parts[3] == "0" and parts[4] == "LinearLayer":
            out[f"stages.{parts[1]}.0.weight"] = v   # 1x1 conv before upsampling
        elif parts[0] == "MainLayers":
            i, j = int(parts[1]), int(parts[3]) - 1  # Layers.0 is the transition
            first = 0 if i == 0 else 1 + (w[i - 1] != w[i])
            out[_block_key(f"stages.{i}.{first + j}", parts[4:], k)] = v
        else:
            raise PublishedModelError(f"unexpected official tensor '{k}' in G.")
    return out


def _rename_D(t: dict[str, torch.Tensor], lay: dict[str, Any], conditional: bool) -> dict[str, torch.Tensor]:
    out, b, last = {}, lay["blocks"], lay["stages"] - 1
    for k, v in t.items():
        parts = k.split(".")
        if k == "ExtractionLayer.Layer.weight":
            out["from_rgb.weight"] = v
        elif k == "EmbeddingLayer.weight":
            out["head.embed.weight"] = v.t()
        elif k.endswith("Resampler.Kernel"):
            continue
        elif parts[0] == "MainLayers" and int(parts[3]) == b:   # the transition after the blocks
            i, rest = int(parts[1]), ".".join(parts[4:])
            if i == last and rest == "Basis.weight":
                out["basis.weight"] = v
            elif i == last and rest == "LinearLayer.weight":
                out["linear.weight" if conditional else "head.embed.weight"] = v   # 1 x C readout = 1 class row
            elif i < last and rest == "LinearLayer.Layer.weight":
                out[f"stages.{i}.{b + 1}.weight"] = v                              # 1x1 conv after downsampling
            else:
                raise PublishedModelError(f"unexpected official tensor '{k}' in D.")
        elif parts[0] == "MainLayers":
            out[_block_key(f"stages.{parts[1]}.{parts[3]}", parts[4:], k)] = v
        else:
            raise PublishedModelError(f"unexpected official tensor '{k}' in D.")
    return out


_BLOCK = {"LinearLayer1.Layer.weight": "expand.weight", "NonLinearity1.Bias": "expand.bias",
          "LinearLayer2.Layer.weight": "grouped.weight", "NonLinearity2.Bias": "grouped.bias",
          "LinearLayer3.Layer.weight": "project.weight"}   # the bias before each lrelu is the conv's bias


def _block_key(prefix: str, rest: list[str], k: str) -> str:
    name = _BLOCK.get(".".join(rest))
    if name is None:
        raise PublishedModelError(f"unexpected official tensor '{k}'.")
    return f"{prefix}.{name}"


# ---------------------------------------------------------------- presets

def _arch(cfg: Any, side: str) -> dict[str, Any]:
    sec = getattr(cfg, side)
    return {k: list(getattr(sec, k)) if k == "widths" else getattr(sec, k) for k in ARCH_KEYS}


def _choose_preset(g: dict, d: dict, z_dim: int, embed: int, classes: int) -> tuple[str, str]:
    """(preset, how): an exact architecture match, else the nearest preset (resolution, conditionality) with
    the architecture taken from the file (e.g. a user's own narrower R3GAN)."""
    def score(name: str) -> tuple:
        cfg = load_config(name)
        exact = (_arch(cfg, "G") == g and _arch(cfg, "D") == d and cfg.G.z_dim == z_dim
                 and (classes == 1 or cfg.G.shared_dim == embed))
        same_res = len(cfg.G.widths) == len(g["widths"])
        imagenet = name.startswith("imagenet") == (classes == 1000)
        return exact, cfg.data.conditional == (classes > 1), same_res, imagenet
    best = max(PRESETS, key=score)
    return best, "exact" if score(best)[0] else "architecture from the file"


def _overrides(g: dict, d: dict, z_dim: int, embed: int, classes: int, g_bf16: list[int]) -> dict[str, Any]:
    o = {f"G.{k}": v for k, v in g.items()} | {f"D.{k}": v for k, v in d.items()}
    o |= {"G.z_dim": z_dim, "data.conditional": classes > 1}
    if classes > 1:
        o["G.shared_dim"] = embed
    o["G.bf16_stages"] = g_bf16
    return o


# ---------------------------------------------------------------- entry point

def convert(pkl_path: str | Path, preset: str | None = None) -> Imported:
    """Read an R3GAN pickle without running its code, map G_ema (and G, D when present) onto condgan's
    R3GAN networks and check every tensor name and shape. `preset` must then fit the file's architecture."""
    path = Path(pkl_path)
    snap = unpickle.load(path)
    if not (isinstance(snap, dict) and "G_ema" in snap):
        raise PublishedModelError(f"{path.name} holds no 'G_ema': not an R3GAN network pickle "
                                  "(a dict with G, D, G_ema and training_set_kwargs).")
    try:
        return _convert(path, snap, preset)
    except KeyError as e:   # a layer the official networks always have is absent
        raise PublishedModelError(f"{path.name}: the networks lack {e}; is this an R3GAN network pickle?") from None


def _convert(path: Path, snap: dict[str, Any], preset: str | None) -> Imported:
    g_t, g_stages, g_low = _stages(snap["G_ema"], "Generator", "G_ema")
    g_lay = _layout(g_t, g_stages, True, "G_ema")
    emb = g_t.get("EmbeddingLayer.weight")
    classes, embed = (1, 0) if emb is None else (emb.shape[1], emb.shape[0])
    z_dim = int(snap["G_ema"].state.get("z_dim") or g_t["MainLayers.0.Layers.0.LinearLayer.weight"].shape[1] - embed)
    resolution, channels = 2 ** (g_lay["stages"] + 1), g_t["AggregationLayer.Layer.weight"].shape[0]
    if snap["G_ema"].state.get("img_resolution", resolution) != resolution:
        raise PublishedModelError(f"G_ema says {snap['G_ema'].state['img_resolution']} px, its stages make "
                                  f"{resolution} px.")

    d_parts = _stages(snap["D"], "Discriminator", "D") if snap.get("D") is not None else None
    d_lay = _layout(d_parts[0], d_parts[1], False, "D") if d_parts else g_lay
    g_arch, d_arch = ({k: lay[k] for k in ARCH_KEYS} for lay in (g_lay, d_lay))
    g_bf16 = [i for i, low in enumerate(g_low) if low]
    if preset is None:
        preset, match = _choose_preset(g_arch, d_arch, z_dim, embed, classes)
        cfg = load_config(preset, _overrides(g_arch, d_arch, z_dim, embed, classes, g_bf16))
    else:
        cfg = load_config(preset)
        for side, arch in (("G", g_arch), ("D", d_arch)):
            for k, v in arch.items():
                if _arch(cfg, side)[k] != v:
                    raise PublishedModelError(f"{path.name} has {side}.{k}={v}, preset '{preset}' has "
                                              f"{_arch(cfg, side)[k]}; leave out --preset to take it from the file.")
        cfg = load_config(preset, _overrides(g_arch, d_arch, z_dim, embed, classes, g_bf16))
        match = "given"

    with torch.device("meta"):   # shapes only: nothing is allocated or initialised
        G_mod, D_mod = build_networks(cfg, classes, resolution, channels)
    states: dict[str, dict[str, torch.Tensor] | None] = {}
    states["G_ema"] = _rename_G(g_t, g_lay)
    states["G"] = _rename_G(_stages(snap["G"], "Generator", "G")[0], g_lay) if snap.get("G") is not None else None
    states["D"] = _rename_D(d_parts[0], d_lay, classes > 1) if d_parts else None
    for key, module in (("G_ema", G_mod), ("G", G_mod), ("D", D_mod)):
        if states[key] is not None:
            states[key] = {k: v.float().contiguous() for k, v in states[key].items()}
            check_state(module, states[key], f"{key} from {path.name}")

    kwargs = _plain(snap.get("training_set_kwargs") or {})
    names = kwargs.get("class_names") if isinstance(kwargs.get("class_names"), list) else None
    class_names = [str(c) for c in names] if names and len(names) == classes else [str(i) for i in range(classes)]
    nimg = snap.get("cur_nimg")
    return Imported(
        cfg=cfg,
        data={"num_classes": classes, "class_names": class_names, "resolution": resolution,
              "channels": channels, "source": kwargs.get("path", path.name)},
        G_ema=states["G_ema"], G=states["G"], D=states["D"],
        provenance={"format": "r3gan", "files": [{"name": path.name, "sha256": sha256(path)}],
                    "sample_precision": "official",   # condgan sample / load(): the official bf16 stages
                    "preset": preset, "preset_match": match,
                    "upstream": {"training_set_kwargs": kwargs, "cur_nimg": _plain(nimg),
                                 "G_bf16_stages": g_bf16,
                                 "D_bf16_stages": [i for i, low in enumerate(d_parts[2]) if low] if d_parts else []}},
        step=int(nimg) // (cfg.train.batch_size * cfg.train.d_steps) if isinstance(nimg, int) else 0,
    )


def load_networks(imp: Imported) -> dict[str, torch.nn.Module]:
    """condgan modules holding an import's state (G_ema, and G, D when given), in eval mode, each with the
    stages the official code runs in bf16 so that `with net.official_precision():` reproduces it."""
    up = imp.provenance["upstream"]
    nets = {}
    for key, state in (("G_ema", imp.G_ema), ("G", imp.G), ("D", imp.D)):
        if state is not None:
            G, D = build_networks(imp.cfg, imp.data["num_classes"], imp.data["resolution"], imp.data["channels"])
            net = D if key == "D" else G
            net.load_state_dict(state)
            net._set_bf16_stages(up["D_bf16_stages" if key == "D" else "G_bf16_stages"], len(net.stages),
                                 forbidden=len(net.stages) - 1 if key == "D" else 0)
            nets[key] = net.eval().requires_grad_(False)
    return nets


def _plain(x: Any) -> Any:
    """Upstream settings as YAML-safe data (EasyDicts become dicts; anything else its repr)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)

