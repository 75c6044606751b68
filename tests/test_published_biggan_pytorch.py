"""BigGAN-PyTorch import: G/G_ema/D state dicts written by BigGAN-PyTorch's own code
(tests/fixtures/published/biggan_pytorch, see its PROVENANCE.md) equal the stored official outputs."""
import pathlib
from pathlib import Path

import pytest
import torch

from condgan.models import build_networks
from condgan.published import biggan_pytorch
from condgan.published.base import PublishedModelError

FIX = Path(__file__).parent / "fixtures" / "published" / "biggan_pytorch"
PRESET = str(FIX / "preset.yaml")


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def convert(g_ema=FIX / "G_ema.pth", **kw):
    return biggan_pytorch.convert(g_ema, preset=PRESET, num_classes=10, **kw)


@torch.no_grad()
def test_import_equals_official_outputs():
    imp = convert(g=FIX / "G.pth", d=FIX / "D.pth")
    assert imp.cfg.D.block_form == "biggan-pytorch" and imp.cfg.G.bn_eps == 1e-5
    ref = torch.load(FIX / "outputs.pt", weights_only=True)
    G, D = build_networks(imp.cfg, 10, 128, 3)
    G.load_state_dict(imp.G_ema)
    assert rel(G.eval()(ref["z"], ref["y"]), ref["G_ema"]) < 1e-5
    G.load_state_dict(imp.G)
    assert rel(G(ref["z"], ref["y"]), ref["G"]) < 1e-5
    D.load_state_dict(imp.D)
    out = D.eval()(torch.cat([ref["G_ema"], ref["G"]]), ref["y"].repeat(2))
    assert rel(out["adv"], ref["D_adv"]) < 1e-5


def test_released_preset_is_accepted_and_checks_shapes():
    """The default preset (the released 128 px model: ch 96) refuses the width-1 fixture, naming a tensor."""
    msg = r"tensor 'shared\.weight' has shape \(10, 16\), expected \(10, 128\)"
    with pytest.raises(PublishedModelError, match=msg):
        biggan_pytorch.convert(FIX / "G_ema.pth", num_classes=10)


def test_preset_that_is_not_biggan_pytorch_is_refused():
    with pytest.raises(PublishedModelError, match=r"G\.bn_eps=0\.0001, but BigGAN-PyTorch's networks need 1e-05"):
        biggan_pytorch.convert(FIX / "G_ema.pth", preset="imagenet128-reacgan", num_classes=10)


def _edited(tmp_path, edit):
    state = torch.load(FIX / "G_ema.pth", weights_only=True)
    edit(state)
    path = tmp_path / "G_ema.pth"
    torch.save(state, path)
    return path


def test_wrong_shape_names_tensor_and_shapes(tmp_path):
    path = _edited(tmp_path, lambda s: s.__setitem__("linear.u0", torch.zeros(1, 7)))
    with pytest.raises(PublishedModelError, match=r"'linear\.u0' has shape \(1, 7\), expected \(1, 256\)"):
        convert(path)


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    with pytest.raises(PublishedModelError, match=r"tensor 'output_layer\.0\.stored_var' is missing"):
        convert(_edited(tmp_path, lambda s: s.pop("output_layer.0.stored_var")))
    with pytest.raises(PublishedModelError, match=r"unexpected tensor 'linear\.u1'"):   # a second singular vector
        convert(_edited(tmp_path, lambda s: s.__setitem__("linear.u1", torch.zeros(1, 256))))


def test_truncated_foreign_and_refused_files(tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes((FIX / "G.pth").read_bytes()[:30000])
    with pytest.raises(PublishedModelError, match="truncated"):
        convert(cut)
    legacy = tmp_path / "legacy.pth"                   # G_ema.pth is in the pre-1.6 format: cut that too
    legacy.write_bytes((FIX / "G_ema.pth").read_bytes()[:30000])
    with pytest.raises(PublishedModelError, match="truncated"):
        convert(legacy)
    with pytest.raises(PublishedModelError, match="not a PyTorch"):
        convert(FIX / "PROVENANCE.md")
    studio = tmp_path / "studio.pth"
    torch.save({"state_dict": {}, "step": 3}, studio)
    with pytest.raises(PublishedModelError, match="condgan import studiogan"):
        convert(studio)
    odd = tmp_path / "odd.pth"
    torch.save({"w": torch.zeros(1), "where": pathlib.PurePosixPath("x")}, odd)
    with pytest.raises(PublishedModelError, match=r"needs class pathlib\.\w*PurePosixPath.*nothing was run"):
        convert(odd)


def test_other_resolutions_are_refused():
    with pytest.raises(PublishedModelError, match="64 px"):
        biggan_pytorch.convert(FIX / "G_ema.pth", preset=PRESET, num_classes=10, resolution=64)
