"""The speed switches change how a step runs, not what it computes: channels-last, torch.compile, bf16 and
the `train.plain` switch that turns them all off. Speed itself is measured by `condgan bench`, not here."""
import pytest
import torch

from condgan.config import load_config
from condgan.speedcheck import compare
from condgan.training.loop import train_step


def test_channels_last_lays_out_the_convolutions(tiny_trainer):
    t, loader = tiny_trainer({"train.channels_last": True})
    convs = [m.weight for m in t.D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    stats = train_step(t, loader)
    assert all(torch.isfinite(v) for v in stats.values())


def test_plain_turns_every_option_off(tiny_trainer):
    t, _ = tiny_trainer({"train.channels_last": True, "train.precision": "bf16",
                                       "train.compile": "eager", "train.plain": True})
    convs = [m.weight for m in t.D.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1
             and m.weight.shape[-1] > 1]  # (those are ambiguous: both layouts at once)
    assert not any(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert t.G_train is t.G and t.D_train is t.D  # not compiled
    with t.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_compiled_networks_train(tiny_trainer):
    """torch.compile's graph capture (the 'eager' backend: no code generation, so it runs in a test)."""
    t, loader = tiny_trainer({"train.compile": "eager", "loss.r1_gamma": 0.1})
    assert t.G_train is not t.G                    # G compiled
    assert t.D_train is t.D                        # D eager: R1 needs a double backward
    stats = train_step(t, loader)
    assert all(torch.isfinite(v) for v in stats.values()) and stats["D/r1"] > 0


def test_fast_and_plain_paths_track(tiny_overrides):
    """Same seed, channels-last vs plain: the first step is identical here and the windowed loss curves stay
    within 10% of the loss range over 30 steps (`scripts/check_fast_path.py` runs 200 steps: 2.3%)."""
    overrides = [f"{k}={v}" for k, v in tiny_overrides.items() if not k.startswith("train.")]
    result = compare("digits", [*overrides, "train.batch_size=8", "train.channels_last=true",
                                "train.grid_classes=2", "train.grid_per_class=1"], steps=30, window=10,
                     device="cpu")
    assert result["D/loss first-step diff"] < 1e-4
    assert result["D/loss max windowed diff / range"] < 0.1 and result["G/loss max windowed diff / range"] < 0.1


@pytest.mark.parametrize("key, value", [("train.compile", "fast"), ("train.channels_last", "maybe")])
def test_bad_speed_options_are_named(key, value):
    from condgan.config import ConfigError
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("digits", {key: value})


def test_step_flops_equal_pytorchs_counter_and_include_the_penalties(tiny_trainer):
    """Our dispatch-level count equals torch.utils.flop_counter.FlopCounterMode where that one works, and
    also counts R1/R2's double backward, where FlopCounterMode refuses autograd.grad on a leaf."""
    from torch.utils.flop_counter import FlopCounterMode

    from condgan.bench import step_flops
    t, loader = tiny_trainer()
    with FlopCounterMode(display=False) as reference:
        train_step(t, loader)
    assert step_flops(t, loader) == reference.get_total_flops() > 0
    t2, loader2 = tiny_trainer({"loss.r1_gamma": 0.1, "loss.r2_gamma": 0.1})
    assert step_flops(t2, loader2) > 1.2 * reference.get_total_flops()


def test_bf16_on_cpu_warns_that_it_is_slow(tmp_path, tiny_overrides):
    import condgan
    cfg = load_config("digits", {**tiny_overrides, "train.steps": 1, "train.precision": "bf16",
                                 "train.device": "cpu"})
    with pytest.warns(UserWarning, match="train.precision=fp32"):
        condgan.train(cfg, tmp_path / "run", progress=False)
