"""Build the StudioGAN import fixtures with StudioGAN's own code (never copied here).

    python scripts/studiogan_fixtures.py --official PATH/TO/PyTorch-StudioGAN --out tests/fixtures/published/studiogan

For each small YAML (written for these tests, in StudioGAN's configs/ format) it builds StudioGAN's
`big_resnet` G and D with StudioGAN's Configurations and modules, gives them non-trivial weights (attention
gains, BN statistics and spectral-norm vectors from a few training-mode passes; G_ema = G perturbed), saves
them as StudioGAN's worker does (`model=G-best-weights-step=N.pth`, a dict with `state_dict`), and stores
fixed z / labels with the official eval-mode outputs. `--prefix` files come from a DataParallel wrapper.
The functions are reused by compare_official_biggan.py at full size.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import os
import sys
import types
from pathlib import Path

import torch
from torch import nn

# Small configurations in StudioGAN's YAML format: stem -> (YAML text, `module.` prefixes, also keep G).
SMALL = {
    "cifar10-biggan": (
        "DATA:\n  name: \"CIFAR10\"\n  img_size: 32\n  num_classes: 10\n"
        "MODEL:\n  backbone: \"big_resnet\"\n  g_cond_mtd: \"cBN\"\n  d_cond_mtd: \"PD\"\n"
        "  apply_g_sn: True\n  apply_d_sn: True\n  apply_attn: True\n  attn_g_loc: [2]\n  attn_d_loc: [1]\n"
        "  z_dim: 40\n  g_shared_dim: 16\n  g_conv_dim: 2\n  d_conv_dim: 4\n"
        "  apply_g_ema: True\n  g_ema_decay: 0.9999\n  g_ema_start: 1000\n"
        "LOSS:\n  adv_loss: \"hinge\"\n", False, True),
    "cifar10-acgan": (
        "DATA:\n  name: \"CIFAR10\"\n  img_size: 32\n  num_classes: 10\n"
        "MODEL:\n  backbone: \"big_resnet\"\n  g_cond_mtd: \"cBN\"\n  d_cond_mtd: \"AC\"\n"
        "  apply_g_sn: True\n  apply_d_sn: True\n  apply_attn: True\n  attn_g_loc: [2]\n  attn_d_loc: [1]\n"
        "  z_dim: 40\n  g_shared_dim: 16\n  g_conv_dim: 2\n  d_conv_dim: 4\n"
        "  apply_g_ema: True\n  g_ema_decay: 0.9999\n  g_ema_start: 1000\n"
        "LOSS:\n  adv_loss: \"hinge\"\n  cond_lambda: 1.0\n", False, False),
    "cifar10-reacgan": (
        "DATA:\n  name: \"CIFAR10\"\n  img_size: 32\n  num_classes: 10\n"
        "MODEL:\n  backbone: \"big_resnet\"\n  g_cond_mtd: \"cBN\"\n  d_cond_mtd: \"D2DCE\"\n"
        "  normalize_d_embed: True\n  d_embed_dim: 16\n"
        "  apply_g_sn: True\n  apply_d_sn: True\n  apply_attn: True\n  attn_g_loc: [2]\n  attn_d_loc: [1]\n"
        "  z_dim: 40\n  g_shared_dim: 16\n  g_conv_dim: 2\n  d_conv_dim: 4\n"
        "  apply_g_ema: True\n  g_ema_decay: 0.9999\n  g_ema_start: 1000\n"
        "LOSS:\n  adv_loss: \"hinge\"\n  cond_lambda: 0.5\n  m_p: 0.98\n  temperature: 0.5\n"
        "OPTIMIZATION:\n  batch_size: 128\n  g_lr: 0.00028284271\n  d_lr: 0.00028284271\n", True, False),
}
STEP = 1234
BATCH = 2


def use_official(src: Path) -> None:
    """Make StudioGAN's src/ importable: Python reads PYTHONPATH at start, so re-run once with it set."""
    if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != str(src):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH")) if p))
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def stub_missing_deps() -> None:
    """StudioGAN's utils modules that config.py / big_resnet.py import but these networks never call need
    torchvision, kornia or compiled ops; give them empty stand-ins (plus the two helpers the models use)."""
    misc = types.ModuleType("utils.misc")

    class make_empty_object:  # noqa: N801 - StudioGAN's name
        pass
    misc.make_empty_object, misc.dummy_context_mgr = make_empty_object, contextlib.nullcontext
    stubs = {"utils.misc": misc}
    stubs.update({n: types.ModuleType(n) for n in ("utils.losses", "utils.simclr_aug", "utils.ada_aug")})
    for name, module in stubs.items():
        sys.modules.setdefault(name, module)


def official_networks(yaml_path: Path, seed: int = 0):
    """StudioGAN's G, G_ema and D for a YAML, with non-trivial weights; and its config object."""
    stub_missing_deps()
    cfgs = importlib.import_module("config").Configurations(str(yaml_path))
    big_resnet = importlib.import_module("models.big_resnet")
    M, DATA = cfgs.MODEL, cfgs.DATA
    torch.manual_seed(seed)
    G = big_resnet.Generator(z_dim=M.z_dim, g_shared_dim=M.g_shared_dim, img_size=DATA.img_size,
                             g_conv_dim=M.g_conv_dim, apply_attn=M.apply_attn, attn_g_loc=M.attn_g_loc,
                             g_cond_mtd=M.g_cond_mtd, num_classes=DATA.num_classes, g_init=M.g_init,
                             g_depth=M.g_depth, mixed_precision=False, MODULES=cfgs.MODULES, MODEL=M)
    D = big_resnet.Discriminator(img_size=DATA.img_size, d_conv_dim=M.d_conv_dim, apply_d_sn=M.apply_d_sn,
                                 apply_attn=M.apply_attn, attn_d_loc=M.attn_d_loc, d_cond_mtd=M.d_cond_mtd,
                                 aux_cls_type=M.aux_cls_type, d_embed_dim=M.d_embed_dim,
                                 num_classes=DATA.num_classes, normalize_d_embed=M.normalize_d_embed,
                                 d_init=M.d_init, d_depth=M.d_depth, mixed_precision=False,
                                 MODULES=cfgs.MODULES, MODEL=M)
    with torch.no_grad():
        for net in (G, D):
            for name, p in net.named_parameters():
                if name.endswith("sigma"):
                    p.fill_(0.3 + 0.4 * torch.rand(()).item())        # attention on (it starts at 0)
                elif "bn4" in name:     # output BN: small gains keep tanh off its +-1 plateau
                    p.mul_(0.1).add_(0.02 * torch.randn_like(p))
        G.train(), D.train()
        for _ in range(3):          # SN power iterations and BN running statistics from real forward passes
            z, y = torch.randn(8, M.z_dim), torch.randint(0, DATA.num_classes, (8,))
            D(G(z, y), y)
        G_ema = copy.deepcopy(G)
        for p in G_ema.parameters():
            p.mul_(1 + 0.05 * torch.randn_like(p))
        for name, b in G_ema.named_buffers():
            if "running_var" in name:
                b.mul_(1.5)
    return G.eval(), G_ema.eval(), D.eval(), cfgs


def save_official(G, G_ema, D, out: Path, prefix: bool = False, step: int = STEP,
                  models: tuple[str, ...] = ("G", "D", "G_ema")) -> dict[str, Path]:
    """As StudioGAN's worker.save: G with its optimizer state, D with the run's bookkeeping, G_ema alone."""
    wrap = nn.DataParallel if prefix else (lambda m: m)
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-6)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-6)
    states = {
        "G": {"state_dict": wrap(G).state_dict(), "optimizer": g_opt.state_dict()},
        "D": {"state_dict": wrap(D).state_dict(), "optimizer": d_opt.state_dict(), "seed": 0,
              "run_name": "fixture", "step": step, "epoch": 1, "topk": 64, "aa_p": 0.0, "best_step": step,
              "best_fid": __import__("numpy").float64(12.5), "best_fid_ckpt": "checkpoints/fixture",
              "lecam_emas": {"G_loss": 7777, "D_loss_real": 7777}},
        "G_ema": {"state_dict": wrap(G_ema).state_dict()},
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for model in models:
        state = states[model]
        paths[model] = out / f"model={model}-best-weights-step={step}.pth"
        torch.save(state, paths[model])
    return paths


@torch.no_grad()
def official_outputs(G, G_ema, D, z: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eval-mode outputs: images of G_ema and G, and D's outputs on G_ema's images (embed/proxy normalised
    when the YAML says so, as StudioGAN's D returns them)."""
    x = G_ema(z, y, eval=True)
    d = D(x.clone(), y, eval=True)
    out = {"z": z, "y": y, "G_ema": x, "G": G(z, y, eval=True), "D_adv": d["adv_output"]}
    for key in ("cls_output", "embed", "proxy"):
        if d[key] is not None:
            out[f"D_{key}"] = d[key]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="a checkout of PyTorch-StudioGAN")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    use_official(args.official.resolve() / "src")
    for name, (text, prefix, keep_g) in SMALL.items():
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(text)
        G, G_ema, D, cfgs = official_networks(folder / "config.yaml")
        save_official(G, G_ema, D, folder, prefix=prefix, models=("G", "D", "G_ema") if keep_g else ("D", "G_ema"))
        g = torch.Generator().manual_seed(1)
        z = torch.randn(BATCH, cfgs.MODEL.z_dim, generator=g)
        y = torch.randint(0, cfgs.DATA.num_classes, (BATCH,), generator=g)
        outputs = official_outputs(G, G_ema, D, z, y)
        if not keep_g:
            del outputs["G"]
        torch.save(outputs, folder / "outputs.pt")
        print(f"{folder}: " + ", ".join(f"{p.name} {p.stat().st_size // 1024} KiB" for p in sorted(folder.iterdir())))


if __name__ == "__main__":
    main()
