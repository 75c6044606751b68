"""The evaluation pipeline: domain evaluators, cached real features, `condgan evaluate` end to end."""
import json

import numpy as np
import pytest
import torch

import condgan
from condgan.cli import main
from condgan.config import load_config
from condgan.metrics import evaluate as ev
from condgan.metrics.evaluator import DomainClassifier, load_evaluator, save_evaluator, train_evaluator
from condgan.training import CheckpointError


def two_class_images(n=200, res=12, seed=0):
    """Class 0: a bright left half; class 1: a bright right half (plus noise). Linearly separable."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.integers(0, 60, (n, res, res, 1)).astype(np.uint8)
    for i, c in enumerate(y):
        x[i, :, (res // 2) * c:(res // 2) * (c + 1)] += 180
    return x, y


def test_domain_evaluator_learns_and_round_trips(tmp_path):
    x, y = two_class_images(400)
    net, acc = train_evaluator(x, y, ["left", "right"], epochs=8, batch_size=32, width=4, log=lambda s: None)
    assert acc >= 0.9
    save_evaluator(net, tmp_path / "ev.pt", ["left", "right"], acc, "synthetic")
    loaded, meta = load_evaluator(tmp_path / "ev.pt")
    assert meta["held_out_accuracy"] == pytest.approx(acc) and meta["class_names"] == ["left", "right"]
    batch = torch.from_numpy(x[:8]).permute(0, 3, 1, 2)
    a, b = net(batch), loaded(batch)
    assert torch.equal(a["pool"], b["pool"]) and a["logits"].shape == (8, 2)


def test_evaluator_resizes_inputs_and_checks_channels():
    net = DomainClassifier(1, 3, resolution=16, width=4).eval()
    assert net(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))["pool"].shape == (2, net.feature_dim)
    with pytest.raises(ValueError, match="1-channel"):
        net(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))


def test_training_checkpoint_is_not_an_evaluator(tmp_path, tiny_overrides):
    ckpt = condgan.train(load_config("digits", tiny_overrides), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="not an evaluator"):
        load_evaluator(ckpt)


def test_real_features_are_cached_by_data_and_network(tmp_path, monkeypatch):
    x, y = two_class_images(40)
    net = DomainClassifier(1, 2, 12, width=4).eval()
    first = ev.cached_real_features(net, x, y, torch.device("cpu"), tmp_path)
    assert len(list(tmp_path.glob("features-*.npz"))) == 1
    monkeypatch.setattr(ev, "extract", lambda *a, **k: pytest.fail("cache was not used"))
    second = ev.cached_real_features(net, x, y, torch.device("cpu"), tmp_path)
    assert np.array_equal(first.pool, second.pool) and np.array_equal(first.labels, second.labels)
    monkeypatch.undo()
    with torch.no_grad():
        net.fc.weight.add_(1.0)  # other weights -> other key
    ev.cached_real_features(net, x, y, torch.device("cpu"), tmp_path)
    x2 = x.copy()
    x2[0, 0, 0, 0] ^= 1  # other data -> other key
    ev.cached_real_features(net, x2, y, torch.device("cpu"), tmp_path)
    assert len(list(tmp_path.glob("features-*.npz"))) == 3


def test_evaluate_run_writes_every_requested_metric(tmp_path, tiny_overrides, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    condgan.train(load_config("digits", tiny_overrides), run, progress=False)
    net = DomainClassifier(1, 10, 16, width=4)
    save_evaluator(net, tmp_path / "ev.pt", [str(i) for i in range(10)], 0.1, "random")
    out = tmp_path / "m.json"
    assert main(["evaluate", str(run), "--evaluator", str(tmp_path / "ev.pt"), "--num-samples", "60",
                 "--metrics", "fid,is,kid,prdc,intra_fid,accuracy,msssim", "--device", "cpu",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for key in ("fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
                "intra_fid_mean", "accuracy_top1", "accuracy_top5", "msssim_mean"):
        assert np.isfinite(r[key]), key
    assert r["num_fake"] == 60 and r["num_real"] == 1797 and r["step"] == 4
    assert set(r["intra_fid"]) == {str(i) for i in range(10)}
    assert list((tmp_path / "cache" / "stats").glob("features-*.npz"))


def test_evaluate_two_image_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    x, y = two_class_images(120)
    np.savez(tmp_path / "real.npz", x=x, y=y)
    np.savez(tmp_path / "same.npz", images=x, labels=y)
    np.savez(tmp_path / "noise.npz", images=np.random.default_rng(1).integers(0, 256, x.shape, dtype=np.uint8),
             labels=y)
    torch.manual_seed(0)  # an untrained evaluator: its feature scale (hence FID's) depends on the draw
    net = DomainClassifier(1, 2, 12, width=4)
    save_evaluator(net, tmp_path / "ev.pt", ["l", "r"], 0.5, "random")
    fids = {}
    for fake in ("same", "noise"):
        out = tmp_path / f"{fake}.json"
        assert main(["evaluate", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / f"{fake}.npz"),
                     "--evaluator", str(tmp_path / "ev.pt"), "--metrics", "fid,kid", "--device", "cpu",
                     "--json", str(out)]) == 0
        fids[fake] = json.loads(out.read_text())["fid"]
    assert abs(fids["same"]) < 1e-9 and fids["noise"] > 1000 * max(abs(fids["same"]), 1e-12)


def test_real_split_chooses_which_split_of_the_real_source_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    x, y = two_class_images(120)
    noise = np.random.default_rng(1).integers(0, 256, x.shape, dtype=np.uint8)
    np.savez(tmp_path / "real.npz", x_train=noise, y_train=y, x_test=x, y_test=y)
    np.savez(tmp_path / "fake.npz", images=x, labels=y)
    torch.manual_seed(0)
    save_evaluator(DomainClassifier(1, 2, 12, width=4), tmp_path / "ev.pt", ["l", "r"], 0.5, "random")
    got = {}
    for split in ([], ["--real-split", "test"]):
        out = tmp_path / f"r{len(split)}.json"
        assert main(["evaluate", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / "fake.npz"),
                     "--evaluator", str(tmp_path / "ev.pt"), "--metrics", "fid", "--device", "cpu",
                     "--json", str(out), *split]) == 0
        r = json.loads(out.read_text())
        got[r["real_split"]] = r["fid"]
    # the fakes are the test images, not the train ones
    assert abs(got["test"]) < 1e-9 and got["train"] > 1000 * max(abs(got["test"]), 1e-12)


def test_offline_inception_without_weights_says_what_to_put_where(tmp_path, tiny_overrides, monkeypatch, capsys):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("CONDGAN_INCEPTION_WEIGHTS", raising=False)
    run = tmp_path / "run"
    condgan.train(load_config("digits", tiny_overrides), run, progress=False)
    assert main(["evaluate", str(run), "--num-samples", "10", "--metrics", "fid", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "6726825d0af5f729" in err
    assert str(tmp_path / "empty-cache") in err


def test_metrics_during_training_and_best_checkpoint(tmp_path, tiny_overrides, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    net = DomainClassifier(1, 10, 16, width=4)
    save_evaluator(net, tmp_path / "ev.pt", [str(i) for i in range(10)], 0.1, "random")
    cfg = load_config("digits", {**tiny_overrides, "train.steps": 6, "train.keep_ckpts": 1, "train.eval_every": 2,
                                 "train.eval_samples": 40, "train.eval_metrics": "fid,kid",
                                 "train.evaluator": str(tmp_path / "ev.pt")})
    run = tmp_path / "run"
    condgan.train(cfg, run, progress=False)
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "metric/fid" in r]
    assert [r["step"] for r in evals] == [2, 4, 6] and all(np.isfinite(r["metric/kid_mean"]) for r in evals)
    best = load_checkpoint_state(run / "checkpoints" / "best.pt")
    assert best["best"]["value"] == min(r["metric/fid"] for r in evals)
    assert best["step"] == min(evals, key=lambda r: r["metric/fid"])["step"]
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.pt", "checkpoint-0000006.pt"]  # keep-last-1 plus the best, never pruned


def load_checkpoint_state(path):
    from condgan.training import load_checkpoint
    return load_checkpoint(path)


def test_truncation_sweep_and_report_from_the_cli(tmp_path, tiny_overrides, monkeypatch):
    import csv

    from PIL import Image
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    condgan.train(load_config("digits", tiny_overrides), run, progress=False)
    save_evaluator(DomainClassifier(1, 10, 16, width=4), tmp_path / "ev.pt", [str(i) for i in range(10)], 0.1, "r")
    assert main(["evaluate", str(run), "--evaluator", str(tmp_path / "ev.pt"), "--num-samples", "40",
                 "--truncation-sweep", "--truncations", "1.5,0.5", "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(run / "truncation_sweep.csv")))
    assert [float(r["truncation"]) for r in rows] == [1.5, 0.5]
    assert all(np.isfinite(float(r["fid"])) and np.isfinite(float(r["is_mean"])) for r in rows)
    assert Image.open(run / "truncation_sweep.png").size[0] > 200
    assert main(["report", str(run)]) == 0
    html = (run / "report" / "index.html").read_text()
    assert 'id="plot-truncation"' in html and 'id="plot-losses"' in html


class _Pixels(torch.nn.Module):
    """A stand-in feature network (the images themselves) that records the resize it was built with."""

    def __init__(self, resize):
        super().__init__()
        self.resize = resize

    def forward(self, x):
        return {"pool": x.float().flatten(1)}


def test_fid_mode_pytorch_fid_switches_the_inception_resize(tmp_path, monkeypatch):
    """--fid-mode pytorch-fid must give pytorch-fid's features (its resize), not only its formula."""
    from condgan.metrics import weights as W
    from condgan.metrics.inception import FIDInceptionV3
    for mode in ("torch-fidelity", "pytorch-fid"):
        net, _ = ev.feature_network("inception", FIDInceptionV3().state_dict(), torch.device("cpu"), fid_mode=mode)
        assert net.resize == mode
    built = []
    monkeypatch.setattr(W, "load_feature_network", lambda weights, device, resize: built.append(resize)
                        or _Pixels(resize))
    x, y = two_class_images(40)
    np.savez(tmp_path / "a.npz", images=x, labels=y)
    for mode in ("pytorch-fid", "torch-fidelity"):
        assert main(["evaluate", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "a.npz"), "--metrics",
                     "kid", "--fid-mode", mode, "--device", "cpu", "--no-cache"]) == 0
    assert built == ["pytorch-fid", "torch-fidelity"]


def test_evaluate_reads_the_real_images_as_the_run_saw_them(tmp_path, tiny_overrides, monkeypatch):
    """An unconditional run is compared with one-class real images (intra-FID and accuracy then mean
    something), and a run trained on the test split is compared with that split."""
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    data = tmp_path / "split.npz"
    np.savez(data, x_train=rng.integers(0, 256, (48, 16, 16, 1), dtype=np.uint8), y_train=np.arange(48) % 4,
             x_test=rng.integers(0, 256, (24, 16, 16, 1), dtype=np.uint8), y_test=np.arange(24) % 4)
    run = tmp_path / "run"
    condgan.train(load_config("digits", {**tiny_overrides, "data.source": str(data), "data.split": "test",
                                         "data.conditional": False, "train.steps": 2}), run, progress=False)
    save_evaluator(DomainClassifier(1, 4, 16, width=4), tmp_path / "ev.pt", list("abcd"), 0.25, "random")
    out = tmp_path / "m.json"
    assert main(["evaluate", str(run), "--evaluator", str(tmp_path / "ev.pt"), "--num-samples", "20", "--metrics",
                 "fid,intra_fid", "--device", "cpu", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["num_real"] == 24  # the test split, not the 48 training images
    assert set(r["intra_fid"]) == {"0"}  # one class, as the generator was trained


def test_bench_builds_the_networks_the_run_would(tiny_overrides):
    from condgan.bench import _bench_data
    cfg = load_config("digits", {**tiny_overrides, "data.conditional": False})
    data, kind = _bench_data(cfg)
    assert kind == "real" and data.num_classes == 1 and data.resolution == 16
    cfg = load_config("stacked-mnist-r3gan", {"data.source": "no-such-file.npz"})
    data, kind = _bench_data(cfg)
    assert kind == "random" and data.num_classes == 1  # unconditional preset: one class, not 1000
