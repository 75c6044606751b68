"""Importing R3GAN's official network pickles (issue 21): equality with the official outputs stored at fixture
time (tests/fixtures/published/r3gan, see its PROVENANCE.md), and a loader that runs no pickled code."""
from __future__ import annotations

import builtins
import os
import pickle
import subprocess
from pathlib import Path

import pytest
import torch

import condgan
from condgan.models import build_networks
from condgan.published import r3gan, unpickle
from condgan.published.base import PublishedModelError

FIXTURES = Path(__file__).parent / "fixtures" / "published" / "r3gan"
NAMES = ["cond16", "uncond16_bf16"]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


@pytest.fixture(scope="module", params=NAMES)
def imported(request):
    imp = r3gan.convert(FIXTURES / f"{request.param}.pkl")
    return imp, r3gan.load_networks(imp), torch.load(FIXTURES / f"{request.param}.pt", weights_only=True)


@torch.no_grad()
def test_outputs_equal_the_official_ones_in_fp32(imported):
    imp, nets, ref = imported
    for key in ("G_ema", "G"):
        assert rel(nets[key](ref["z"], ref["y"]), ref[f"{key}_fp32"]) < 1e-5, key
    assert rel(nets["D"](ref["x"], ref["y"])["adv"], ref["D_fp32"]) < 1e-5


@torch.no_grad()
def test_official_precision_reproduces_the_bf16_stages(imported):
    imp, nets, ref = imported
    bf16 = bool(imp.provenance["upstream"]["G_bf16_stages"])
    for key in ("G_ema", "G", "D"):
        net = nets[key]
        run = (lambda: net(ref["x"], ref["y"])["adv"]) if key == "D" else (lambda: net(ref["z"], ref["y"]))
        with net.official_precision():
            official = run()
        assert official.dtype == torch.float32
        assert rel(official, ref[f"{key}_official"]) < 1e-5, key
        if bf16:  # the stages really ran in bf16, and a plain call still computes in fp32
            assert rel(run(), ref[f"{key}_official"]) > 1e-3, key
            assert rel(run(), ref[f"{key}_fp32"]) < 1e-5, key


def test_configuration_classes_and_provenance_come_from_the_file():
    imp = r3gan.convert(FIXTURES / "cond16.pkl")
    assert imp.data["num_classes"] == 10 and imp.data["class_names"] == [str(i) for i in range(10)]
    assert imp.data["resolution"] == 16 and imp.step == 4000 // imp.cfg.train.batch_size  # cur_nimg in G steps
    assert list(imp.cfg.G.widths) == [16, 16, 8] and imp.cfg.G.group_size == 4 and imp.cfg.G.z_dim == 8
    assert imp.cfg.G.shared_dim == 8 and imp.cfg.data.conditional
    assert imp.provenance["files"][0]["name"] == "cond16.pkl" and len(imp.provenance["files"][0]["sha256"]) == 64
    assert imp.provenance["upstream"]["training_set_kwargs"]["use_labels"] is True
    assert imp.G is not None and imp.D is not None
    unc = r3gan.convert(FIXTURES / "uncond16_bf16.pkl")
    assert unc.data["num_classes"] == 1 and not unc.cfg.data.conditional
    assert unc.provenance["upstream"]["G_bf16_stages"] == [1, 2]
    assert unc.provenance["upstream"]["D_bf16_stages"] == [0, 1]


@pytest.mark.parametrize("preset, g, classes", [
    ("cifar10-r3gan", dict(widths=[768] * 4, group_size=16), 10),
    ("imagenet32-r3gan", dict(widths=[1536] * 4, group_size=32), 1000),
    ("imagenet64-r3gan", dict(widths=[1536] * 5, group_size=32), 1000),
    ("ffhq64-r3gan", dict(widths=[768] * 4 + [384], group_size=16), 1),
    ("ffhq256-r3gan", dict(widths=[768] * 4 + [384, 192, 96], group_size=16), 1),
])
def test_the_official_configurations_pick_their_preset(preset, g, classes):
    arch = dict(g, blocks=2, expansion=2)
    assert r3gan._choose_preset(arch, arch, 64, 64 if classes > 1 else 0, classes) == (preset, "exact")


def test_a_preset_that_does_not_fit_is_refused_naming_the_key():
    with pytest.raises(PublishedModelError, match=r"G\.widths=\[16, 16, 8\].*cifar10-r3gan"):
        r3gan.convert(FIXTURES / "cond16.pkl", preset="cifar10-r3gan")


def official_g_params(widths, group_size, classes, z=64, blocks=2, expansion=2):
    """R3GAN/Networks.py Generator's parameter count (train.py presets; classes=1: unconditional)."""
    e = z if classes > 1 else 0
    total = 16 * widths[0] + (z + e) * widths[0] + classes * e * (classes > 1) + 3 * widths[-1]
    for i, w in enumerate(widths):
        h = w * expansion
        total += blocks * (w * h + h + h * group_size * 9 + h + h * w)
        total += widths[i - 1] * w if i and widths[i - 1] != w else 0
    return total


@pytest.mark.parametrize("preset, classes, resolution, widths, group_size", [
    ("cifar10-r3gan", 10, 32, [768] * 4, 16),
    ("imagenet64-r3gan", 1000, 64, [1536] * 5, 32),
    ("ffhq256-r3gan", 1, 256, [768] * 4 + [384, 192, 96], 16),
])
def test_new_presets_have_the_official_generator(preset, classes, resolution, widths, group_size):
    with torch.device("meta"):
        G, _ = build_networks(condgan.load_config(preset), classes, resolution, 3)
    assert sum(p.numel() for p in G.parameters()) == official_g_params(widths, group_size, classes)


# ---------------------------------------------------------------- the loader runs nothing

class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _malicious(tmp_path: Path, payload) -> Path:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload, "G": None, "D": None}))
    return path


@pytest.mark.parametrize("make, named", [
    (lambda m: _Reduce(os.system, f"touch {m}"), f"{os.system.__module__}.system"),
    (lambda m: _Reduce(builtins.eval, f"open({str(m)!r}, 'w').close()"), "builtins.eval"),
    (lambda m: _Reduce(subprocess.Popen, ["touch", str(m)]), "subprocess.Popen"),
])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path, make, named):
    marker = tmp_path / "ran"
    path = _malicious(tmp_path, make(marker))
    with pytest.raises(PublishedModelError, match=f"'{named}'") as err:
        r3gan.convert(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_embedded_persistent_source_is_never_executed(tmp_path):
    """A stylegan persistent object carries its module source; the loader keeps it as an inert string."""
    marker = tmp_path / "ran"
    meta = {"type": "class", "version": 6, "class_name": "Generator", "state": {},
            "module_src": f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n"}
    head = b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\n"
    raw = head + pickle.dumps(meta, protocol=2)[2:-1] + b"\x85R."   # TUPLE1, REDUCE, STOP
    path = tmp_path / "persistent.pkl"
    path.write_bytes(raw)
    obj = unpickle.load(path)
    assert isinstance(obj, unpickle.StandIn) and obj.qualname == "<persistent>.Generator"
    assert not marker.exists()
    path.write_bytes(raw.replace(b"Generator", b"Evil12345"))
    with pytest.raises(PublishedModelError, match="Evil12345"):
        unpickle.load(path)


def test_a_truncated_file_is_refused(tmp_path):
    raw = (FIXTURES / "cond16.pkl").read_bytes()
    for cut in (len(raw) // 2, len(raw) - 1, 7):
        (tmp_path / "cut.pkl").write_bytes(raw[:cut])
        with pytest.raises(PublishedModelError, match="cut.pkl"):
            r3gan.convert(tmp_path / "cut.pkl")


def test_a_file_of_another_format_is_refused(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "net.pkl")
    with pytest.raises(PublishedModelError, match="zip"):
        r3gan.convert(tmp_path / "net.pkl")
    (tmp_path / "noise.pkl").write_bytes(os.urandom(4096))
    with pytest.raises(PublishedModelError, match="noise.pkl"):
        r3gan.convert(tmp_path / "noise.pkl")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"state_dict": {}}))
    with pytest.raises(PublishedModelError, match="G_ema"):
        r3gan.convert(tmp_path / "dict.pkl")


def _tampered(monkeypatch, edit):
    snap = unpickle.load(FIXTURES / "cond16.pkl")
    edit(snap)
    monkeypatch.setattr(r3gan.unpickle, "load", lambda path: snap)


def _params(snap, *path):
    obj = snap["G_ema"]
    for name in path:
        obj = obj.state["_modules"][name]
    return obj.state["_parameters"]


def test_a_tensor_of_the_wrong_shape_is_named_with_both_shapes(monkeypatch):
    _tampered(monkeypatch, lambda s: _params(s, "Model", "AggregationLayer", "Layer").__setitem__(
        "weight", torch.zeros(3, 7, 1, 1)))
    shapes = r"'to_rgb\.weight' has shape \(3, 7, 1, 1\), expected \(3, 8, 1, 1\)"
    with pytest.raises(PublishedModelError, match=shapes):
        r3gan.convert(FIXTURES / "cond16.pkl")


def test_a_missing_tensor_is_named(monkeypatch):
    _tampered(monkeypatch, lambda s: _params(s, "Model", "AggregationLayer", "Layer").pop("weight"))
    with pytest.raises(PublishedModelError, match="AggregationLayer"):
        r3gan.convert(FIXTURES / "cond16.pkl")


def test_an_imported_run_samples_at_the_official_precision_by_default(tmp_path, capsys):
    """`condgan import r3gan` -> run folder; `load()` runs the bf16 stages unless asked for fp32, and the
    safetensors export keeps that default."""
    from condgan.cli import main
    ref = torch.load(FIXTURES / "uncond16_bf16.pt", weights_only=True)
    assert main(["import", "r3gan", str(FIXTURES / "uncond16_bf16.pkl"), "--out", str(tmp_path / "run")]) == 0
    gen = condgan.load(tmp_path / "run")
    assert gen.precision == "official" and condgan.load(tmp_path / "run", precision="fp32").precision == "fp32"
    with torch.no_grad(), gen.G.official_precision():
        official = gen.G(ref["z"], ref["y"])
    assert rel(official, ref["G_ema_official"]) < 1e-5
    assert rel(condgan.load(tmp_path / "run", precision="fp32").G(ref["z"], ref["y"]), ref["G_ema_fp32"]) < 1e-5
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "G.safetensors")]) == 0
    snap = condgan.load(tmp_path / "G.safetensors")
    assert snap.precision == "official"
    assert torch.equal(snap.sample(8, seed=1), gen.sample(8, seed=1))
    assert not torch.equal(gen.sample(8, seed=1), condgan.load(tmp_path / "run", precision="fp32").sample(8, seed=1))
