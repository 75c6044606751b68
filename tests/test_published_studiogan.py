"""StudioGAN import: files written by StudioGAN's own code (tests/fixtures/published/studiogan, see its
PROVENANCE.md) become condgan networks whose outputs equal the stored official outputs."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from condgan.models import build_networks
from condgan.published import studiogan
from condgan.published.base import PublishedModelError

FIX = Path(__file__).parent / "fixtures" / "published" / "studiogan"
STEP = "best-weights-step=1234.pth"


def files(name):
    f = FIX / name
    g = f / f"model=G-{STEP}"
    return f / "config.yaml", f / f"model=G_ema-{STEP}", (g if g.exists() else None), f / f"model=D-{STEP}"


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name,preset,head", [("cifar10-biggan", "cifar10-biggan", "projection"),
                                              ("cifar10-acgan", "cifar10-acgan", "classifier"),
                                              ("cifar10-reacgan", "cifar10-reacgan", "embedding")])
@torch.no_grad()
def test_import_equals_official_outputs(name, preset, head):
    cfg_yaml, g_ema, g, d = files(name)
    imp = studiogan.convert(cfg_yaml, g_ema, g, d)
    assert (imp.cfg.preset, imp.cfg.D.head, imp.cfg.D.block_form, imp.step) == (preset, head, "studiogan", 1234)
    assert imp.data["num_classes"] == 10 and imp.data["resolution"] == 32 and imp.data["class_names"][0] == "airplane"
    ref = torch.load(FIX / name / "outputs.pt", weights_only=True)
    G, D = build_networks(imp.cfg, 10, 32, 3)
    G.load_state_dict(imp.G_ema)
    assert rel(G.eval()(ref["z"], ref["y"]), ref["G_ema"]) < 1e-5
    if g is not None:
        G.load_state_dict(imp.G)
        assert rel(G(ref["z"], ref["y"]), ref["G"]) < 1e-5
    D.load_state_dict(imp.D)
    out = D.eval()(ref["G_ema"], ref["y"])
    assert rel(out["adv"], ref["D_adv"]) < 1e-5
    if "D_cls_output" in ref:
        assert rel(out["logits"], ref["D_cls_output"]) < 1e-5
    if "D_embed" in ref:   # StudioGAN's D returns them normalised; condgan's loss normalises them
        assert rel(F.normalize(out["embed"], dim=1), ref["D_embed"]) < 1e-5
        assert rel(F.normalize(out["proxy"], dim=1), ref["D_proxy"]) < 1e-5


def test_module_prefix_files_are_the_same_network():
    cfg_yaml, g_ema, _, d = files("cifar10-reacgan")
    assert all(k.startswith("module.") for k in torch.load(g_ema, weights_only=True)["state_dict"])
    imp = studiogan.convert(cfg_yaml, g_ema, d=d)
    assert imp.G is None and imp.D is not None and imp.cfg.loss.cond == "d2dce"


def _yaml_with(tmp_path, old, new):
    text = (FIX / "cifar10-biggan" / "config.yaml").read_text()
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old,new,named", [
    ('backbone: "big_resnet"', 'backbone: "stylegan2"', "MODEL.backbone='stylegan2'"),
    ('g_cond_mtd: "cBN"', 'g_cond_mtd: "W/O"', "MODEL.g_cond_mtd='W/O'"),
    ('d_cond_mtd: "PD"', 'd_cond_mtd: "MH"', "MODEL.d_cond_mtd='MH'"),
    ('adv_loss: "hinge"', 'adv_loss: "hinge"\n  apply_lecam: True', "LOSS.apply_lecam=True"),
    ("attn_g_loc: [2]", "attn_g_loc: [1, 2]", "MODEL.attn_g_loc=[1, 2]"),
])
def test_unsupported_setting_is_refused_by_name(tmp_path, old, new, named):
    cfg_yaml, g_ema, _, _ = files("cifar10-biggan")
    with pytest.raises(PublishedModelError, match=named.replace("[", r"\[").replace("]", r"\]")):
        studiogan.convert(_yaml_with(tmp_path, old, new), g_ema)


def test_defaults_fill_omitted_keys(tmp_path):
    """StudioGAN's default backbone is `resnet`: a YAML that omits MODEL.backbone is not a BigGAN run."""
    cfg_yaml, g_ema, _, _ = files("cifar10-biggan")
    with pytest.raises(PublishedModelError, match="MODEL.backbone='resnet'"):
        studiogan.convert(_yaml_with(tmp_path, '  backbone: "big_resnet"\n', ""), g_ema)


def _edited(tmp_path, edit):
    _, g_ema, _, _ = files("cifar10-biggan")
    ckpt = torch.load(g_ema, weights_only=True)
    edit(ckpt["state_dict"])
    path = tmp_path / "model=G_ema-edited.pth"
    torch.save(ckpt, path)
    return path


def test_wrong_shape_names_tensor_and_shapes(tmp_path):
    path = _edited(tmp_path, lambda s: s.__setitem__("linear0.bias", torch.zeros(5)))
    with pytest.raises(PublishedModelError, match=r"'linear0\.bias' has shape \(5,\), expected \(128,\)"):
        studiogan.convert(files("cifar10-biggan")[0], path)


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    # StudioGAN lists G's attention as a block of its own: blocks.2 after blocks.1 (2nd residual block)
    with pytest.raises(PublishedModelError, match=r"tensor 'blocks\.2\.0\.sigma' is missing"):
        studiogan.convert(files("cifar10-biggan")[0], _edited(tmp_path, lambda s: s.pop("blocks.2.0.sigma")))
    with pytest.raises(PublishedModelError, match=r"unexpected tensor 'extra\.weight'"):
        studiogan.convert(files("cifar10-biggan")[0],
                          _edited(tmp_path, lambda s: s.__setitem__("extra.weight", torch.zeros(1))))


def test_truncated_and_foreign_files_are_refused(tmp_path):
    cfg_yaml, g_ema, _, _ = files("cifar10-biggan")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(g_ema.read_bytes()[:20000])
    with pytest.raises(PublishedModelError, match="truncated"):
        studiogan.convert(cfg_yaml, cut)
    with pytest.raises(PublishedModelError, match="not a PyTorch"):
        studiogan.convert(cfg_yaml, cfg_yaml)             # a YAML where a .pth belongs
    plain = tmp_path / "plain.pth"
    torch.save({"linear0.bias": torch.zeros(1)}, plain)  # a plain state dict (BigGAN-PyTorch style)
    with pytest.raises(PublishedModelError, match="no 'state_dict'"):
        studiogan.convert(cfg_yaml, plain)


def test_an_imported_studiogan_run_fine_tunes_samples_and_exports(tmp_path, capsys):
    """`condgan import studiogan` with G, G_ema and D -> `condgan train --resume` on new data of the same
    shape trains a few steps from the imported weights with fresh optimisers; sample and export work on it."""
    import numpy as np

    from condgan.cli import main
    from condgan.io import read_checkpoint
    cfg_yaml, g_ema, g, d = files("cifar10-biggan")
    run = tmp_path / "run"
    assert main(["import", "studiogan", "--config", str(cfg_yaml), "--G-ema", str(g_ema), "--G", str(g),
                 "--D", str(d), "--out", str(run)]) == 0
    assert "Fine-tune with: condgan train" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    data = tmp_path / "new.npz"  # new data of the same shape: 32 px RGB, 10 classes
    np.savez(data, x=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), y=np.arange(64) % 10)
    assert main(["train", "--outdir", str(run), "--resume", "--no-progress", f"data.source={data}",
                 "train.steps=1236", "train.batch_size=8", "train.d_steps=1", "train.log_every=1",
                 "train.grid_every=1000", "train.ckpt_every=1000", "train.ema_start=0", "train.standing_stats=0",
                 "train.threads=2", "train.device=cpu"]) == 0
    assert capsys.readouterr().out.count("optimisers start fresh") == 1
    before, after = read_checkpoint(run / "checkpoints" / "checkpoint-0001234.pt"), \
        read_checkpoint(run / "checkpoints" / "checkpoint-0001236.pt")
    assert "g_opt" in after and "g_opt" not in before
    assert any(not torch.equal(before["D"][k], after["D"][k]) for k in before["D"])
    assert main(["sample", str(run), "--n", "10", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "G.safetensors")]) == 0
