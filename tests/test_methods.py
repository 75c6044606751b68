"""The method families as composed parts of one trainer: heads, conditioning losses, augmentation, ADA, CR,
relativistic loss with R1/R2, burn-in schedules. Tiny BigGANs on CPU."""
import json
import math

import numpy as np
import pytest
import torch

import condgan
from condgan.config import ConfigError, load_config, list_presets
from condgan.training import load_checkpoint
from condgan.training.loop import train_step
from condgan.training.schedules import cosine_burn_in, ema_decay_from_halflife, hyperparameters

METHODS = {
    "acgan": {"D.head": "classifier", "loss.cond": "ce"},
    "acgan-original": {"D.head": "classifier", "loss.cond": "ce", "loss.cond_on_fake": True},
    "reacgan": {"D.head": "embedding", "loss.cond": "d2dce", "D.embed_dim": 16},
    "reacgan-diffaug-ada-cr": {"D.head": "embedding", "loss.cond": "d2dce", "D.embed_dim": 16,
                               "augment.policy": "color,translation,cutout", "augment.p": 0.0,
                               "augment.ada_target": 0.6, "augment.ada_interval": 1, "loss.cr_lambda": 10.0},
    "proxy-nce": {"D.head": "embedding", "loss.cond": "proxy_nce", "D.embed_dim": 16},
    "rpgan-r1-r2": {"loss.adversarial": "rpgan", "loss.r1_gamma": 0.1, "loss.r2_gamma": 0.1},
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_with_finite_losses(method, tiny_trainer):
    t, loader = tiny_trainer(METHODS[method])
    before = [p.detach().clone() for p in t.D.parameters()]
    for _ in range(2):
        stats = train_step(t, loader)
    assert all(torch.isfinite(v).all() for v in stats.values()), stats
    assert any(not torch.equal(a, b) for a, b in zip(before, t.D.parameters()))
    if "loss.cond" in METHODS[method]:
        assert {"D/cond", "G/cond", "probe/feature_norm", "probe/cond_grad_norm"} <= set(stats)
        assert stats["probe/feature_norm"] > 0 and stats["probe/cond_grad_norm"] > 0
    if "loss.r1_gamma" in METHODS[method]:
        assert stats["D/r1"] > 0 and stats["D/r2"] > 0


def test_classifier_head_learns_the_labels_the_projection_head_does_not_need(tiny_trainer):
    """ACGAN's conditioning lives only in its classification loss: with cond_lambda = 0 the class logits get
    no gradient at all, with cond_lambda > 0 they do."""
    for lam, moves in ((0.0, False), (1.0, True)):
        t, loader = tiny_trainer({**METHODS["acgan"], "loss.cond_lambda": lam})
        w = t.D.head.classifier.parametrizations.weight.original.detach().clone()
        train_step(t, loader)
        assert (not torch.equal(w, t.D.head.classifier.parametrizations.weight.original)) == moves


def test_ada_probability_rises_when_d_is_confident_on_reals(tiny_trainer):
    t, loader = tiny_trainer(METHODS["reacgan-diffaug-ada-cr"])
    t.D.head.linear.bias.data.fill_(50.0)  # every real logit positive: D "overfits" -> p must grow
    t.cfg.optim.d_lr = 0.0  # keep D that way
    t.cfg.optim.g_lr = 0.0
    ps = [float(train_step(t, loader)["aug/p"]) for _ in range(3)]
    assert ps[0] > 0 and ps[2] > ps[1] > ps[0]


def test_resume_restores_augmentation_state_exactly(tmp_path, tiny_overrides):
    extra = {**METHODS["reacgan-diffaug-ada-cr"], "train.ckpt_every": 2, "train.log_every": 1}
    condgan.train(load_config("digits", {**tiny_overrides, **extra}), tmp_path / "a", progress=False)
    condgan.train(load_config("digits", {**tiny_overrides, **extra, "train.steps": 2}), tmp_path / "b",
                  progress=False)
    condgan.train(load_config("digits", {**tiny_overrides, **extra}), tmp_path / "b", resume=True,
                  progress=False)
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "checkpoint-0000004.pt") for r in "ab")
    for k in a["D"]:
        assert torch.equal(a["D"][k], b["D"][k]), k
    assert torch.equal(a["objective"]["ada"]["p"], b["objective"]["ada"]["p"])
    rows = [json.loads(x) for x in (tmp_path / "a" / "stats.jsonl").read_text().splitlines()]
    assert all("probe/cond_grad_norm" in r and "aug/p" in r for r in rows)


def test_unconditional_data_has_one_class(tmp_path, tiny_overrides):
    ckpt = condgan.train(load_config("digits", {**tiny_overrides, "data.conditional": False,
                                                "train.steps": 2, "train.grid_classes": 1}),
                         tmp_path / "u", progress=False)
    assert load_checkpoint(ckpt)["data"]["num_classes"] == 1


def test_cosine_burn_in_and_ema_half_life():
    assert cosine_burn_in(2e-4, 5e-5, 0.0) == pytest.approx(2e-4)
    assert cosine_burn_in(2e-4, 5e-5, 0.5) == pytest.approx((2e-4 + 5e-5) / 2)
    assert cosine_burn_in(2e-4, 5e-5, 1.0) == pytest.approx(5e-5)
    assert cosine_burn_in(2e-4, 5e-5, 7.0) == pytest.approx(5e-5)
    assert ema_decay_from_halflife(0.0, 64) == 0.0
    decay = ema_decay_from_halflife(1.0, 100)  # 10 steps of 100 images halve the weight of the past
    assert decay ** 10 == pytest.approx(0.5)


def test_r3gan_schedule_reaches_the_papers_values():
    cfg = load_config("cifar10-r3gan")
    start, middle, end = (hyperparameters(cfg, k) for k in (0.0, cfg.schedule.burn_in_kimg / 2,
                                                              cfg.schedule.burn_in_kimg))
    assert (start["g_lr"], end["g_lr"]) == (pytest.approx(2e-4), pytest.approx(5e-5))
    assert (start["r1_gamma"], end["r1_gamma"]) == (pytest.approx(0.05), pytest.approx(0.005))
    assert (start["g_beta2"], end["g_beta2"]) == (pytest.approx(0.9), pytest.approx(0.99))
    assert (start["aug_p"], end["aug_p"]) == (pytest.approx(0.0), pytest.approx(0.55))
    assert start["ema_decay"] == 0.0 and 0.99 < end["ema_decay"] < 1.0
    assert 5e-5 < middle["g_lr"] < 2e-4


def test_scheduled_values_reach_the_optimisers(tiny_trainer):
    t, loader = tiny_trainer({"schedule.burn_in_kimg": 1.0, "schedule.lr_start": 1e-2,
                                          "schedule.beta2_start": 0.9})
    train_step(t, loader)  # step 0 uses the start values
    assert t.g_opt.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert t.d_opt.param_groups[0]["betas"][1] == pytest.approx(0.9)
    t.step = 10_000
    train_step(t, loader)
    assert t.g_opt.param_groups[0]["lr"] == pytest.approx(t.cfg.optim.g_lr)


@pytest.mark.parametrize("override, key", [
    ({"loss.cond": "ce"}, "loss.cond"),                      # ce needs the classifier head
    ({"D.head": "embedding"}, "D.head"),                     # an embedding head needs a loss
    ({"loss.cond": "d2dce", "D.head": "classifier"}, "loss.cond"),
    ({"loss.adversarial": "wgan"}, "loss.adversarial"),
    ({"augment.p": 1.5}, "augment.p"),
])
def test_inconsistent_method_parts_are_refused(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("digits", override)


def test_bad_augment_policy_is_named(tiny_overrides):
    with pytest.raises(ConfigError, match="colour"):
        load_config("digits", {**tiny_overrides, "augment.policy": "colour"})


@pytest.mark.parametrize("preset", [p for p in list_presets() if "reacgan" in p or "acgan" in p])
def test_classifier_presets_carry_the_papers_settings(preset):
    cfg = load_config(preset)
    expected = {"cifar10-acgan": ("ce", None, None), "cifar10-reacgan": ("d2dce", 0.5, 0.98),
                "cifar10-reacgan-diffaug": ("d2dce", 0.5, 0.98), "cifar10-reacgan-ada": ("d2dce", 0.5, 0.98),
                "tiny-imagenet-reacgan": ("d2dce", 0.75, 1.0),
                "cub200-reacgan": ("d2dce", 0.25, 0.95), "imagenet128-reacgan": ("d2dce", 0.5, 0.98)}[preset]
    embed_dims = {"cifar10-reacgan": 512, "cifar10-reacgan-diffaug": 512, "cifar10-reacgan-ada": 512,
                  "tiny-imagenet-reacgan": 768, "cub200-reacgan": 1024, "imagenet128-reacgan": 2048}  # StudioGAN
    assert cfg.loss.cond == expected[0]
    if expected[1] is not None:
        assert (cfg.loss.temperature, cfg.loss.m_p) == expected[1:]
        assert cfg.D.head == "embedding" and cfg.D.embed_dim == embed_dims[preset]


@pytest.mark.slow
def test_cifar10_r3gan_preset_trains_on_cpu(tmp_path, capsys):
    """The full-width preset (20.8M + 21.3M parameters) for two tiny-batch steps through the CLI. fp32: bf16
    autocast on a CPU without native bf16 units took 12 minutes here; the bf16 path has its own tiny test."""
    from condgan.cli import main
    rng = np.random.default_rng(0)
    data = tmp_path / "cifar.npz"
    np.savez(data, x=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), y=np.arange(16) % 10)
    run = tmp_path / "run"
    code = main(["train", "--preset", "cifar10-r3gan", "--outdir", str(run), "--no-progress",
                 f"data.source={data}", "train.batch_size=2", "train.steps=2", "train.log_every=1",
                 "train.grid_every=2", "train.grid_classes=2", "train.grid_per_class=1", "train.device=cpu",
                 "train.precision=fp32"])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite(r[k]) for r in rows for k in ("D/loss", "G/loss", "D/r1", "D/r2"))
    state = load_checkpoint(run / "checkpoints" / "checkpoint-0000002.pt")
    assert state["config"]["G"]["arch"] == "r3gan" and state["data"]["num_classes"] == 10


def test_bf16_autocast_trains_r3gan_with_penalties(tiny_trainer):
    t, loader = tiny_trainer({"G.arch": "r3gan", "D.arch": "r3gan", "G.widths": [16, 16, 16],
                                          "D.widths": [16, 16, 16], "G.z_dim": 8, "G.shared_dim": 8,
                                          "loss.adversarial": "rpgan", "loss.r1_gamma": 0.1,
                                          "loss.r2_gamma": 0.1, "train.precision": "bf16"})
    stats = train_step(t, loader)
    assert all(torch.isfinite(v) for v in stats.values()) and stats["D/r1"] > 0
    assert all(p.dtype == torch.float32 for p in t.G.parameters())  # fp32 master weights


@pytest.mark.parametrize("preset, g_params, d_params", [("cifar10-r3gan", 20.78e6, 21.28e6)])
def test_r3gan_preset_parameter_counts_match_the_paper(preset, g_params, d_params):
    from condgan.models import build_networks
    G, D = build_networks(load_config(preset), 10, 32, 3)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(G) == pytest.approx(g_params, rel=0.02) and count(D) == pytest.approx(d_params, rel=0.02)


def test_cli_counts_stacked_mnist_modes_of_a_run_and_of_an_image_file(tmp_path, tiny_overrides, capsys):
    from condgan.cli import main
    rng = np.random.default_rng(0)
    data = tmp_path / "rgb.npz"
    np.savez(data, x=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), y=np.zeros(32, dtype=np.int64))
    run = tmp_path / "run"
    overrides = [f"{k}={v}" for k, v in {**tiny_overrides, "data.resolution": 32, "train.steps": 1,
                                         "train.grid_classes": 1}.items()]
    assert main(["train", "--outdir", str(run), "--no-progress", f"data.source={data}", *overrides]) == 0
    out = tmp_path / "modes.json"
    assert main(["evaluate", str(run), "--modes", "stacked-mnist", "--num-samples", "40", "--device", "cpu",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 40 and 1 <= result["modes"] <= 40
    assert 0.0 <= result["reverse_kl"] <= math.log(1000) + 1e-9
    assert main(["evaluate", "--modes", "stacked-mnist", "--fake", str(data), "--device", "cpu"]) == 0
    assert "reverse_kl" in capsys.readouterr().out
