"""Full-size equality check: the official StudioGAN / BigGAN-PyTorch networks against condgan after import.

    python scripts/compare_official_biggan.py --official-studiogan STUDIOGAN --official-biggan-pytorch BIGGAN_PYTORCH
        --config studiogan-cifar10-biggan,studiogan-cifar10-reacgan,biggan-pytorch-imagenet128

For each configuration it builds the official networks at full size with the official code (StudioGAN: the
run YAML from its own configs/ folder; BigGAN-PyTorch: the launch settings of the released 128 px model),
gives them random weights with non-trivial BN statistics, SN vectors and attention gains, saves them the
official way into a temporary folder, imports the files with condgan.published, and prints the largest
relative difference max|condgan - official| / max|official| of G_ema, G and D outputs (eval mode, fp32).
Each configuration runs in its own process: the two code bases share module names (utils, sync_batchnorm).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

STUDIOGAN = {  # --config name -> the run YAML in StudioGAN's src/configs
    "studiogan-cifar10-biggan": "CIFAR10/BigGAN.yaml",
    "studiogan-cifar10-acgan": "CIFAR10/ACGAN-Mod-Big.yaml",
    "studiogan-cifar10-reacgan": "CIFAR10/ReACGAN.yaml",
    "studiogan-cub200-reacgan": "CUB200/ReACGAN.yaml",
    "studiogan-imagenet128-biggan": "ImageNet/BigGAN-256.yaml",
    "studiogan-imagenet128-reacgan": "ImageNet/ReACGAN-256.yaml",
}
BIGGAN_PYTORCH = ("biggan-pytorch-imagenet128",)
BATCH = 4


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def saturated(x: torch.Tensor) -> str:
    """Share of pixels on tanh's plateau, where equal outputs would prove little."""
    return f"{float((x.abs() > 0.999).float().mean()):.1%}"


@torch.no_grad()
def compare_studiogan(src: Path, name: str) -> dict[str, float]:
    import studiogan_fixtures as fx
    from condgan.models import build_networks
    from condgan.published import studiogan
    yaml_path = src / "configs" / STUDIOGAN[name]
    G, G_ema, D, cfgs = fx.official_networks(yaml_path)
    z = torch.randn(BATCH, cfgs.MODEL.z_dim)
    y = torch.randint(0, cfgs.DATA.num_classes, (BATCH,))
    ref = fx.official_outputs(G, G_ema, D, z, y)
    with tempfile.TemporaryDirectory() as tmp:
        paths = fx.save_official(G, G_ema, D, Path(tmp), prefix=True)
        imp = studiogan.convert(yaml_path, paths["G_ema"], paths["G"], paths["D"])
    Gc, Dc = build_networks(imp.cfg, imp.data["num_classes"], imp.data["resolution"], 3)
    Gc.load_state_dict(imp.G_ema)
    out = {"G_ema": rel(Gc.eval()(z, y), ref["G_ema"])}
    Gc.load_state_dict(imp.G)
    out["G"] = rel(Gc(z, y), ref["G"])
    out["saturated"] = saturated(ref["G_ema"])
    Dc.load_state_dict(imp.D)
    d = Dc.eval()(ref["G_ema"], y)
    out["D adv"] = rel(d["adv"], ref["D_adv"])
    if "D_cls_output" in ref:
        out["D logits"] = rel(d["logits"], ref["D_cls_output"])
    if "D_embed" in ref:
        out["D embed"] = rel(F.normalize(d["embed"], dim=1), ref["D_embed"])
        out["D proxy"] = rel(F.normalize(d["proxy"], dim=1), ref["D_proxy"])
    return out


@torch.no_grad()
def compare_biggan_pytorch(src: Path, name: str) -> dict[str, float]:
    import biggan_pytorch_fixtures as fx
    from condgan.models import build_networks
    from condgan.published import biggan_pytorch
    G, G_ema, D = fx.official_networks(**fx.FULL)
    z = torch.randn(BATCH, 120)
    y = torch.randint(0, fx.FULL["n_classes"], (BATCH,))
    ref = fx.official_outputs(G, G_ema, D, z, y)
    with tempfile.TemporaryDirectory() as tmp:
        paths = fx.save_official(G, G_ema, D, Path(tmp))
        imp = biggan_pytorch.convert(paths["G_ema"], paths["G"], paths["D"], preset="imagenet128-biggan",
                                     num_classes=fx.FULL["n_classes"])
    Gc, Dc = build_networks(imp.cfg, fx.FULL["n_classes"], 128, 3)
    Gc.load_state_dict(imp.G_ema)
    out = {"G_ema": rel(Gc.eval()(z, y), ref["G_ema"])}
    Gc.load_state_dict(imp.G)
    out["G"] = rel(Gc(z, y), ref["G"])
    out["saturated"] = saturated(ref["G_ema"])
    Dc.load_state_dict(imp.D)
    out["D adv"] = rel(Dc.eval()(torch.cat([ref["G_ema"], ref["G"]]), y.repeat(2))["adv"], ref["D_adv"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official-studiogan", type=Path, help="a checkout of PyTorch-StudioGAN")
    ap.add_argument("--official-biggan-pytorch", type=Path, help="a checkout of BigGAN-PyTorch")
    ap.add_argument("--config", required=True,
                    help=f"comma-separated: {', '.join([*STUDIOGAN, *BIGGAN_PYTORCH])}")
    args = ap.parse_args()
    names = [n.strip() for n in args.config.split(",") if n.strip()]
    unknown = [n for n in names if n not in STUDIOGAN and n not in BIGGAN_PYTORCH]
    if unknown:
        ap.error(f"unknown --config {unknown[0]}")
    if len(names) > 1:          # one process per configuration
        sources = [(f"--official-{k}", v) for k, v in (("studiogan", args.official_studiogan),
                                                         ("biggan-pytorch", args.official_biggan_pytorch)) if v]
        for n in names:
            subprocess.run([sys.executable, __file__, "--config", n, *[str(x) for kv in sources for x in kv]],
                           check=True)
        return
    name = names[0]
    studio = name in STUDIOGAN
    root = args.official_studiogan if studio else args.official_biggan_pytorch
    if root is None:
        ap.error(f"--config {name} needs --official-{'studiogan' if studio else 'biggan-pytorch'}")
    src = root.resolve() / "src" if studio else root.resolve()
    import studiogan_fixtures
    studiogan_fixtures.use_official(src)
    torch.manual_seed(0)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # official code prints progress
        result = (compare_studiogan if studio else compare_biggan_pytorch)(src, name)
    print(f"{name}: " + ", ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
          + ("  (all < 1e-5)" if max(v for v in result.values() if isinstance(v, float)) < 1e-5 else "  (ABOVE 1e-5)"))


if __name__ == "__main__":
    main()
