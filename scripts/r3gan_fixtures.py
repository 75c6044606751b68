"""Build the R3GAN test fixtures with the official code: `python scripts/r3gan_fixtures.py --official R3GAN_DIR
--out tests/fixtures/published/r3gan`.

R3GAN_DIR is a checkout of brownvc/R3GAN (see PROVENANCE.md for the commit). Its networks are built at reduced
width by the official constructors (`training.networks.Generator` / `Discriminator` via dnnlib, as its
training loop does), given random weights, and saved exactly as the loop saves a snapshot (deep copies in eval
mode, `.cpu()`, `pickle.dump` of the same dict keys). Reference outputs of the official modules on fixed
inputs go to `NAME.pt`. Nothing upstream is copied into this repository: R3GAN's networks are pickled by
reference, and any stylegan `persistence` object's embedded source would be replaced by a placeholder.

Also the helpers `compare_official_r3gan.py` uses (import the checkout, build, save, run).
"""
from __future__ import annotations

import argparse
import copy
import io
import math
import os
import pickle
import sys
import types
from pathlib import Path

import torch

SOURCE_PLACEHOLDER = "# upstream source removed by scripts/r3gan_fixtures.py; condgan never runs it\n"

# The official train.py presets (brownvc/R3GAN), G's order (4x4 first); D runs them reversed.
OFFICIAL = {
    "cifar10": dict(res=32, classes=10, widths=[768] * 4, cardinality=[96] * 4, fp16=[-1, -2, -3]),
    "imagenet32": dict(res=32, classes=1000, widths=[1536] * 4, cardinality=[96] * 4, fp16=[-1, -2, -3]),
    "imagenet64": dict(res=64, classes=1000, widths=[1536] * 5, cardinality=[96] * 5, fp16=[-1, -2, -3, -4]),
    "ffhq64": dict(res=64, classes=0, widths=[768] * 4 + [384], cardinality=[96] * 4 + [48], fp16=[-1, -2, -3, -4]),
    "ffhq256": dict(res=256, classes=0, widths=[768] * 4 + [384, 192, 96], cardinality=[96] * 4 + [48, 24, 12],
                    fp16=[-1, -2, -3, -4]),
}
# Reduced width, 16 px: a conditional CIFAR-like network saved with the CUDA class variants (as the released
# GPU files are) and an unconditional one with two bf16 stages saved with the reference variants.
FIXTURES = {
    "cond16": dict(res=16, classes=10, widths=[16, 16, 8], cardinality=[8, 8, 4], fp16=[], z=8, variant="CUDA"),
    "uncond16_bf16": dict(res=16, classes=0, widths=[16, 8, 8], cardinality=[8, 4, 4], fp16=[-1, -2], z=8,
                          variant="Reference"),
}


def import_official(path: str | Path) -> types.SimpleNamespace:
    """Import the checkout's dnnlib and network modules. They import each other as top-level packages, so the
    checkout must be on the import path: unless PYTHONPATH already names it, this re-runs the command once
    with PYTHONPATH=PATH (nothing else is patched). The official code itself needs `requests` and
    `setuptools` (for pkg_resources) installed; its CUDA ops fall back to their reference code on a CPU."""
    root = str(Path(path).resolve())
    search = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in search:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *search])}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    try:
        import dnnlib
        import R3GAN.FusedOperators
        import R3GAN.Networks
        import R3GAN.Resamplers
    except ImportError as e:
        sys.exit(f"cannot import the official code from {root}: {e}. It needs its own dependencies "
                 "(pip install requests setuptools).")
    return types.SimpleNamespace(dnnlib=dnnlib, Networks=R3GAN.Networks, Resamplers=R3GAN.Resamplers,
                                 Fused=R3GAN.FusedOperators)


def use_variant(off: types.SimpleNamespace, variant: str) -> None:
    """Point R3GAN.Networks at the CUDA or the Reference resampler/activation classes (both run on CPU)."""
    off.Networks.InterpolativeUpsampler = getattr(off.Resamplers, f"InterpolativeUpsampler{variant}")
    off.Networks.InterpolativeDownsampler = getattr(off.Resamplers, f"InterpolativeDownsampler{variant}")
    off.Networks.BiasedActivation = getattr(off.Fused, f"BiasedActivation{variant}")


def build_official(off: types.SimpleNamespace, spec: dict) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """G, D, G_ema as train.py + training_loop.py construct them for `spec`."""
    use_variant(off, spec.get("variant", "CUDA"))
    z, fp16, n = spec.get("z", 64), spec["fp16"], len(spec["widths"])
    G_kwargs = dict(class_name="training.networks.Generator", NoiseDimension=z, WidthPerStage=spec["widths"],
                    CardinalityPerStage=spec["cardinality"], BlocksPerStage=[2] * n, ExpansionFactor=2,
                    FP16Stages=fp16)
    D_kwargs = dict(class_name="training.networks.Discriminator", WidthPerStage=spec["widths"][::-1],
                    CardinalityPerStage=spec["cardinality"][::-1], BlocksPerStage=[2] * n, ExpansionFactor=2,
                    FP16Stages=[x + len(fp16) for x in fp16])
    if spec["classes"]:
        G_kwargs["ConditionEmbeddingDimension"], D_kwargs["ConditionEmbeddingDimension"] = z, spec["widths"][0]
    common = dict(c_dim=spec["classes"], img_resolution=spec["res"])
    G = off.dnnlib.util.construct_class_by_name(**G_kwargs, **common).train().requires_grad_(False)
    D = off.dnnlib.util.construct_class_by_name(**D_kwargs, **common).train().requires_grad_(False)
    return G, D, copy.deepcopy(G).eval()


@torch.no_grad()
def randomize(*nets: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere (the official init zeroes biases and each block's last conv, which would
    leave most of the mapping untested): N(0, 1/fan_in) for weights, N(0, 0.1) for biases and bases."""
    g = torch.Generator().manual_seed(seed)
    for net in nets:
        for p in net.parameters():
            std = 1 / math.sqrt(p[0].numel()) if p.ndim > 1 and p.shape[-1] != 4 else 0.1
            p.copy_(torch.randn(p.shape, generator=g) * std)


class _Pickler(pickle.Pickler):
    """pickle.Pickler that blanks the module source a stylegan persistent object would embed."""

    def reducer_override(self, obj):  # noqa: ANN001
        if isinstance(obj, torch.nn.Module) and hasattr(type(obj), "_orig_module_src"):
            fn, (meta,), *rest = obj.__reduce__()
            return (fn, (dict(meta, module_src=SOURCE_PLACEHOLDER),), *rest)
        return NotImplemented


def snapshot_bytes(G, D, G_ema, training_set_kwargs: dict, cur_nimg: int, opt_states: dict | None = None) -> bytes:
    """The bytes training_loop.py writes to network-snapshot-*.pkl (same keys, same copies, same dump)."""
    data = dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=dict(training_set_kwargs), cur_nimg=cur_nimg)
    data.update(opt_states or {})
    for key, value in data.items():
        if isinstance(value, torch.nn.Module):
            data[key] = copy.deepcopy(value).eval().requires_grad_(False).cpu()
    f = io.BytesIO()
    _Pickler(f).dump(data)
    raw = f.getvalue()
    assert b"module_src" not in raw or SOURCE_PLACEHOLDER.encode() in raw
    return raw


def set_fp32(*nets: torch.nn.Module) -> None:
    """Force every official stage to fp32 (the comparison at full precision)."""
    for net in nets:
        for stage in net.Model.MainLayers:
            stage.DataType = torch.float32


@torch.no_grad()
def official_outputs(G, D, G_ema, z, c, x) -> dict[str, torch.Tensor]:
    return {"G_ema": G_ema(z, c).float(), "G": G(z, c).float(), "D": D(x, c).float()}


def inputs(spec: dict, n: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, max(spec["classes"], 1), (n,), generator=g)
    c = torch.nn.functional.one_hot(y, spec["classes"]).float() if spec["classes"] else torch.zeros(n, 0)
    x = torch.randn(n, 3, spec["res"], spec["res"], generator=g)
    return {"z": torch.randn(n, spec.get("z", 64), generator=g), "y": y, "c": c, "x": x}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, help="a checkout of brownvc/R3GAN")
    ap.add_argument("--out", default="tests/fixtures/published/r3gan")
    args = ap.parse_args()
    off, out = import_official(args.official), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, spec) in enumerate(FIXTURES.items()):
        G, D, G_ema = build_official(off, spec)
        randomize(G, D, seed=10 * i)
        randomize(G_ema, seed=10 * i + 1)     # the EMA differs from G, as in any snapshot after step 0
        kw = dict(class_name="training.dataset.ImageFolderDataset", path=f"{name}.zip",
                  use_labels=bool(spec["classes"]), max_size=1000, xflip=False, resolution=spec["res"], random_seed=0)
        raw = snapshot_bytes(G, D, G_ema, kw, cur_nimg=4000)
        (out / f"{name}.pkl").write_bytes(raw)
        ref = inputs(spec)
        official = official_outputs(G, D, G_ema, ref["z"], ref["c"], ref["x"])
        set_fp32(G, D, G_ema)
        fp32 = official_outputs(G, D, G_ema, ref["z"], ref["c"], ref["x"])
        torch.save({**ref, **{f"{k}_fp32": v for k, v in fp32.items()},
                    **{f"{k}_official": v for k, v in official.items()}}, out / f"{name}.pt")
        print(f"{name}: {len(raw) / 1024:.0f} KiB pkl, bf16 stages G {spec['fp16']}")


if __name__ == "__main__":
    main()
