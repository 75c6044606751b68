"""Methods as parts: the registries are the one place a loss, head or backbone is declared, a user can add
one from outside the package, and the config refuses keys that the chosen parts do not read."""
import pytest

import condgan
from condgan.config import ConfigError, load_config
from condgan.losses import ADVERSARIAL, register_adversarial
from condgan.training.loop import train_step


def test_a_new_adversarial_loss_is_one_function_pair_and_one_registry_entry(tmp_path, tiny_overrides):
    """Least squares GAN (Mao et al., 2017), added from outside condgan exactly as the README shows."""
    def lsgan_d(real, fake):
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()

    def lsgan_g(fake, real=None):
        return 0.5 * ((fake - 1) ** 2).mean()

    with pytest.raises(ConfigError, match="loss.adversarial"):
        load_config("digits", {"loss.adversarial": "lsgan"})
    register_adversarial("lsgan", lsgan_d, lsgan_g)
    try:
        cfg = load_config("digits", {**tiny_overrides, "loss.adversarial": "lsgan", "train.steps": 2})
        condgan.train(cfg, tmp_path / "run", progress=False)
        rows = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
        assert rows and '"D/loss"' in rows[-1]
    finally:
        del ADVERSARIAL["lsgan"]


def test_the_training_step_reads_the_losses_properties(tiny_trainer):
    """rpgan declares that G's loss needs reals and that fakes pair with the reals' labels; a copy of it
    registered without those properties gets neither."""
    t, _ = tiny_trainer({"loss.adversarial": "rpgan"})
    assert t.objective.g_needs_real and t.fakes_take_real_labels
    register_adversarial("rpgan_unpaired", ADVERSARIAL["rpgan"].d, ADVERSARIAL["rpgan"].g, g_needs_real=True)
    try:
        t, _ = tiny_trainer({"loss.adversarial": "rpgan_unpaired"})
        assert t.objective.g_needs_real and not t.fakes_take_real_labels
    finally:
        del ADVERSARIAL["rpgan_unpaired"]


@pytest.mark.parametrize("overrides, key, reader", [
    ({"G.ch": 256}, "G.ch", "biggan backbone"),
    ({"D.block_form": "studiogan"}, "D.block_form", "biggan backbone"),
    ({"D.embed_dim": 64}, "D.embed_dim", "embedding head"),
])
def test_a_key_the_chosen_parts_do_not_read_is_an_error_naming_its_reader(overrides, key, reader):
    with pytest.raises(ConfigError, match=rf"'{key}'.*{reader}"):
        load_config("cifar10-r3gan", overrides)


def test_switching_a_part_by_override_is_not_an_error_and_every_preset_reads_all_it_sets():
    cfg = load_config("stacked-mnist-r3gan", {"G.arch": "biggan", "D.arch": "biggan", "G.ch": 8, "D.ch": 8})
    assert cfg.G.arch == "biggan" and cfg.G.ch == 8
    with pytest.raises(ConfigError, match="D.classifier_bias"):
        load_config("digits", {"D.classifier_bias": False})
    load_config("digits", {"D.head": "classifier", "loss.cond": "ce", "D.classifier_bias": False})
    import yaml

    from condgan.config import PRESET_DIR, _check_parts_read, _flatten, list_presets, resolve_key
    for name in list_presets():  # presets are data: each sets only keys its own parts read
        tree = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
        _check_parts_read(load_config(name), {resolve_key(k) for k in _flatten(tree, name)})


def test_d_steps_draw_their_fakes_from_the_compiled_generator(tiny_trainer):
    """train.compile wraps G once, in the Trainer; every G forward of a step (d_steps for D, one for G)
    goes through that wrapped module."""
    t, loader = tiny_trainer({"train.compile": "eager", "train.d_steps": 3})
    assert t.G_train is not t.G
    calls = []
    hook = t.G_train.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        train_step(t, loader)
    finally:
        hook.remove()
    assert len(calls) == 3 + 1
