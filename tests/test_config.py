import pytest

from condgan.config import ConfigError, config_from_dict, list_presets, load_config


def test_every_preset_loads():
    names = list_presets()
    assert {"digits", "cifar10-biggan", "imagenet128-biggan"} <= set(names)
    for name in names:
        assert load_config(name).preset == name


def test_cifar10_preset_has_studiogan_settings():
    c = load_config("cifar10-biggan")
    assert (c.train.batch_size, c.train.d_steps, c.train.steps) == (64, 5, 100_000)
    assert (c.optim.g_lr, c.optim.d_lr, c.optim.g_betas, c.optim.d_betas) == (2e-4, 2e-4, (0.5, 0.999), (0.5, 0.999))
    assert (c.G.z_dim, c.G.shared_dim, c.G.ch, c.D.ch) == (80, 128, 96, 96)
    assert (c.train.ema_decay, c.train.ema_start, c.data.hflip) == (0.9999, 1000, True)


def test_imagenet128_preset_has_paper_settings():
    c = load_config("imagenet128-biggan")
    assert (c.train.batch_size, c.train.d_steps, c.optim.g_lr, c.optim.d_lr) == (2048, 2, 5e-5, 2e-4)
    assert (c.G.z_dim, c.G.attn_res, c.loss.g_ortho, c.train.ema_start) == (120, 64, 1e-4, 20000)


def test_overrides_with_dotted_and_unique_leaf_keys():
    c = load_config("digits", ["train.steps=7", "batch_size=16", "g_betas=[0.0, 0.9]", "hflip=true",
                               "G.attn_res=none", "g_lr=1e-3"])
    assert (c.train.steps, c.train.batch_size, c.optim.g_betas) == (7, 16, (0.0, 0.9))
    assert c.data.hflip is True and c.G.attn_res is None and c.optim.g_lr == 1e-3


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="train.batch_sise.*Did you mean 'train.batch_size'"):
        load_config("digits", ["train.batch_sise=3"])
    with pytest.raises(ConfigError, match="Did you mean 'optim.g_lr'"):
        load_config("digits", ["optim.glr=3"])


def test_ambiguous_leaf_key_lists_choices():
    with pytest.raises(ConfigError, match="ambiguous.*G.ch.*D.ch"):
        load_config("digits", ["ch=3"])


def test_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config("digits", ["train.batch_size=abc"])
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config("digits", ["train.batch_size=0"])
    with pytest.raises(ConfigError, match="train.precision"):
        load_config("digits", ["train.precision=fp8"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config("digits", ["train.steps"])


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match="Unknown preset 'cifar10-bigan'.*Did you mean 'cifar10-biggan'"):
        load_config("cifar10-bigan")


def test_preset_file_with_unknown_key_names_file_and_key(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("train:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match="mine.yaml.*train.stepz.*train.steps"):
        load_config(str(f))


def test_round_trip_through_dict():
    c = load_config("cifar10-biggan", ["train.steps=11"])
    assert config_from_dict(c.to_dict()) == c
