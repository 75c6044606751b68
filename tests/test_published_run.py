"""An imported model is an ordinary run folder (issue 21): it samples, fine-tunes with fresh optimisers,
exports to safetensors and loads back bitwise; a failed import leaves nothing behind. The importers of each
upstream format are tested in tests/test_published_*.py; here an `Imported` is made from condgan's own
networks, so these tests need no upstream files."""
import pytest
import torch

import condgan
from condgan.cli import main
from condgan.io import CheckpointError, read_checkpoint
from condgan.models import build_networks
from condgan.published import Imported, PublishedModelError, check_state, write_run
from condgan.snapshot import export_generator, read_generator


@pytest.fixture
def imported(tiny_config):
    """A tiny digits BigGAN as an importer would return it (random weights standing for published ones)."""
    torch.manual_seed(0)
    cfg = tiny_config()
    G, D = build_networks(cfg, 10, 16, 1)
    G_ema, _ = build_networks(cfg, 10, 16, 1)
    data = {"num_classes": 10, "class_names": [str(i) for i in range(10)], "resolution": 16, "channels": 1,
            "source": "digits"}
    return Imported(cfg, data, G_ema.state_dict(), G.state_dict(), D.state_dict(),
                    {"format": "test", "files": [{"name": "G_ema.pth", "sha256": "0" * 64}]}, step=6)


def test_an_imported_run_samples_and_records_where_it_came_from(tmp_path, imported, capsys):
    ckpt = write_run(imported, tmp_path / "run")
    assert ckpt == tmp_path / "run" / "checkpoints" / "checkpoint-0000006.pt"
    state = read_checkpoint(ckpt)
    assert "g_opt" not in state and state["imported"]["format"] == "test"
    gen = condgan.load(tmp_path / "run")
    assert gen.step == 6 and gen.sample([0, 9], seed=1).shape == (2, 16, 16, 1)
    assert main(["sample", str(tmp_path / "run"), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 0


def test_an_existing_folder_is_not_replaced_and_a_failed_import_leaves_nothing(tmp_path, imported,
                                                                                  monkeypatch):
    write_run(imported, tmp_path / "run")
    with pytest.raises(condgan.CondganError, match="already exists"):
        write_run(imported, tmp_path / "run")

    def disk_full(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("condgan.published.save_config", disk_full)  # fails after the checkpoint is written
    with pytest.raises(PublishedModelError, match="No space left on device. Nothing was left behind"):
        write_run(imported, tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no half-written folder, no temp folder


def test_fine_tuning_an_import_starts_fresh_optimisers_and_says_so(tmp_path, imported, capsys):
    write_run(imported, tmp_path / "run")
    assert main(["train", "--outdir", str(tmp_path / "run"), "--resume", "--no-progress", "train.steps=8"]) == 0
    out = capsys.readouterr().out
    assert out.count("optimisers start fresh") == 1
    state = read_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint-0000008.pt")
    assert state["step"] == 8 and "g_opt" in state


def test_fine_tuning_moves_the_imported_weights(tmp_path, imported):
    write_run(imported, tmp_path / "run")
    condgan.train(condgan.load_config(str(tmp_path / "run" / "config.yaml"), {"train.steps": 8}),
                  tmp_path / "run", resume=True, progress=False)
    after = read_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint-0000008.pt")
    changed = [k for k, v in imported.G.items() if v.is_floating_point() and not torch.equal(v, after["G"][k])]
    assert changed, "two fine-tuning steps left G as imported"


def test_an_import_without_d_cannot_be_fine_tuned(tmp_path, imported):
    imported.D = None
    write_run(imported, tmp_path / "run")
    assert main(["train", "--outdir", str(tmp_path / "run"), "--resume", "--no-progress", "train.steps=8"]) == 2


def test_safetensors_export_loads_back_bitwise(tmp_path, imported, capsys):
    write_run(imported, tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "G.safetensors")]) == 0
    snap = read_generator(tmp_path / "G.safetensors")
    assert snap.step == 6 and snap.data["class_names"][9] == "9" and snap.provenance["format"] == "test"
    assert set(snap.G_ema) == set(imported.G_ema)
    assert all(torch.equal(snap.G_ema[k], imported.G_ema[k]) for k in imported.G_ema)
    a = condgan.load(tmp_path / "run").sample(20, truncation=1.0, seed=3)
    b = condgan.load(tmp_path / "G.safetensors").sample(20, truncation=1.0, seed=3)
    assert torch.equal(a, b)
    raw = (tmp_path / "G.safetensors").read_bytes()
    assert b"optimizer" not in raw and b"g_opt" not in raw and b"\x80\x02" not in raw[:64]  # no pickle, no optimiser
    assert main(["sample", str(tmp_path / "G.safetensors"), "--n", "2", "--out", str(tmp_path / "s.png")]) == 0


def test_bad_snapshots_are_named(tmp_path, imported, capsys):
    write_run(imported, tmp_path / "run")
    good = export_generator(tmp_path / "run", tmp_path / "G.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        read_generator(cut)
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a condgan generator snapshot"):
        read_generator(tmp_path / "foreign.safetensors")
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "G.pt")]) == 2
    assert "FILE.safetensors" in capsys.readouterr().err


def test_check_state_names_the_tensor_its_shape_and_the_expected_one(imported, tiny_config):
    G, _ = build_networks(tiny_config(), 10, 16, 1)
    state = dict(imported.G_ema)
    key = next(k for k, v in state.items() if v.dim() == 2)
    state[key] = torch.zeros(3, 5)
    with pytest.raises(PublishedModelError, match=rf"'{key}' has shape \(3, 5\), expected"):
        check_state(G, state, "G_ema from x.pth")
    del state[key]
    with pytest.raises(PublishedModelError, match=f"'{key}' is missing"):
        check_state(G, state, "G_ema from x.pth")
    with pytest.raises(PublishedModelError, match="unexpected tensor 'extra'"):
        check_state(G, {**imported.G_ema, "extra": torch.zeros(1)}, "G_ema from x.pth")


def test_import_cli_needs_its_files(tmp_path, capsys):
    assert main(["import", "studiogan", "--G-ema", "x.pth", "--out", str(tmp_path / "r")]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["import", "biggan-pytorch", "--out", str(tmp_path / "r")]) == 2
    assert "--G-ema is required" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
