"""Build the BigGAN-PyTorch import fixtures with BigGAN-PyTorch's own code (never copied here).

    python scripts/biggan_pytorch_fixtures.py --official BIGGAN_PYTORCH --out tests/fixtures/published/biggan_pytorch

Builds BigGAN.py's Generator and Discriminator at 128 px with the launch settings of the released model
(hierarchical z of 120, shared embedding, BN eps 1e-5, SN eps 1e-6, in-place ReLU) but width 1, 10 classes,
a 16-d shared embedding and attention at 16 (G) / 8 (D), the stages with 8 channels (attention needs 8).
Weights are made non-trivial (attention gains, stored BN statistics and SN u vectors from a few
training-mode passes; G_ema = G perturbed) and saved as its utils.save_weights does (torch.save of each
state dict), G_ema.pth in the pre-1.6 (non-zip) format of the released files. The matching condgan preset,
fixed z / labels and the official eval-mode outputs are stored beside them. compare_official_biggan.py
reuses these functions at full size.
"""
from __future__ import annotations

import argparse
import copy
import importlib
from pathlib import Path

import torch
from torch import nn

from studiogan_fixtures import use_official  # same folder: this script's own directory is on sys.path

SMALL = {"ch": 1, "n_classes": 10, "shared_dim": 16, "G_attn": "16", "D_attn": "8"}
FULL = {"ch": 96, "n_classes": 1000, "shared_dim": 128, "G_attn": "64", "D_attn": "64"}
PRESET = """description: BigGAN-PyTorch's 128 px networks at width 2 (test fixture)
data:
  source: imagenet128
G:
  arch: biggan
  ch: {ch}
  z_dim: 120
  shared_dim: {shared_dim}
  hier: true
  attn_res: {G_attn}
  bn_eps: 1.0e-5
D:
  arch: biggan
  ch: {ch}
  attn_res: {D_attn}
  head: projection
  block_form: biggan-pytorch
"""


def official_networks(ch: int, n_classes: int, shared_dim: int, G_attn: str, D_attn: str, seed: int = 0,
                      batch: int = 4):
    """BigGAN.py's G, G_ema and D at 128 px with non-trivial weights."""
    BigGAN = importlib.import_module("BigGAN")
    torch.manual_seed(seed)
    common = dict(resolution=128, n_classes=n_classes, SN_eps=1e-6)
    G = BigGAN.Generator(G_ch=ch, dim_z=120, G_attn=G_attn, G_shared=True, shared_dim=shared_dim, hier=True,
                         BN_eps=1e-5, G_activation=nn.ReLU(inplace=True), no_optim=True, **common)
    D = BigGAN.Discriminator(D_ch=ch, D_attn=D_attn, D_activation=nn.ReLU(inplace=True), **common)
    with torch.no_grad():
        for net in (G, D):
            for name, p in net.named_parameters():
                if name.endswith("gamma"):
                    p.fill_(0.3 + 0.4 * torch.rand(()).item())          # attention on (it starts at 0)
                elif name.startswith("output_layer.0"):  # small gains keep tanh off its +-1 plateau
                    p.mul_(0.1).add_(0.02 * torch.randn_like(p))
        G.train(), D.train()
        for _ in range(3):           # SN power iterations and stored BN statistics from real forward passes
            z, y = torch.randn(batch, 120), torch.randint(0, n_classes, (batch,))
            D(G(z, G.shared(y)), y)
        G_ema = copy.deepcopy(G)
        for p in G_ema.parameters():
            p.mul_(1 + 0.05 * torch.randn_like(p))
        for name, b in G_ema.named_buffers():
            if "stored_var" in name:
                b.mul_(1.5)
    return G.eval(), G_ema.eval(), D.eval()


def save_official(G, G_ema, D, out: Path) -> dict[str, Path]:
    """utils.save_weights: torch.save(net.state_dict(), ROOT/G.pth) and so on."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.pth" for name in ("G", "G_ema", "D")}
    torch.save(G.state_dict(), paths["G"])
    torch.save(G_ema.state_dict(), paths["G_ema"], _use_new_zipfile_serialization=False)
    torch.save(D.state_dict(), paths["D"])
    return paths


@torch.no_grad()
def official_outputs(G, G_ema, D, z: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """As sample.py with --G_eval_mode: G(z, G.shared(y)); D on G_ema's then G's images (classes y)."""
    x_ema, x = G_ema(z, G_ema.shared(y)), G(z, G.shared(y))
    both = torch.cat([x_ema, x])
    return {"z": z, "y": y, "G_ema": x_ema, "G": x, "D_adv": D(both, y.repeat(2))[:, 0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="a checkout of BigGAN-PyTorch")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    use_official(args.official.resolve())
    G, G_ema, D = official_networks(**SMALL)
    save_official(G, G_ema, D, args.out)
    (args.out / "preset.yaml").write_text(PRESET.format(**SMALL))
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1, 120, generator=g)      # one latent: a 128 px output is 196 KiB
    y = torch.randint(0, SMALL["n_classes"], (1,), generator=g)
    torch.save(official_outputs(G, G_ema, D, z, y), args.out / "outputs.pt")
    print(", ".join(f"{p.name} {p.stat().st_size // 1024} KiB" for p in sorted(args.out.iterdir())))


if __name__ == "__main__":
    main()
