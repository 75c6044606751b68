import numpy as np
import pytest
import torch

torch.set_num_threads(2)

TINY = {  # a BigGAN small enough to train a few steps in a test on 2 CPU cores
    "data.resolution": 16, "G.ch": 2, "D.ch": 2, "G.z_dim": 12, "G.shared_dim": 8, "G.attn_res": 8,
    "D.attn_res": 8, "train.batch_size": 8, "train.d_steps": 2, "train.steps": 4, "train.log_every": 2,
    "train.grid_every": 2, "train.ckpt_every": 2, "train.ema_start": 1, "train.standing_stats": 2,
    "train.grid_per_class": 2,
}


def tiny(extra=None):
    """TINY plus `extra`; TINY's BigGAN widths are left out when `extra` picks a backbone that does not read
    them (an unread key is a config error)."""
    from condgan.models import BACKBONES
    extra = dict(extra or {})
    backbone = BACKBONES[extra.get("G.arch", "biggan")]
    read = {f"G.{k}" for k in backbone.g_keys} | {f"D.{k}" for k in backbone.d_keys}
    return {**{k: v for k, v in TINY.items() if k[:2] not in ("G.", "D.") or k in read}, **extra}


@pytest.fixture
def tiny_overrides():
    return dict(TINY)


@pytest.fixture
def tiny_npz(tmp_path):
    """A small labelled dataset (64 grey 16x16 images, 4 classes) that loads without scikit-learn."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (64, 16, 16, 1), dtype=np.uint8), y=np.arange(64) % 4)
    return path


@pytest.fixture
def tiny_config():
    """`tiny_config({key: value})` -> the config of the tiny digits BigGAN at 16 px plus the overrides."""
    from condgan.config import load_config
    return lambda extra=None: load_config("digits", tiny(extra))


@pytest.fixture
def tiny_trainer(tiny_config):
    """`tiny_trainer({key: value})` -> (Trainer, loader) of the tiny digits BigGAN at 16 px plus the overrides,
    on the CPU, with the data read as training reads it (`condgan.data.from_config`)."""
    from condgan.data import from_config, make_loader
    from condgan.training.loop import Trainer

    def build(extra=None):
        cfg = tiny_config(extra)
        data = from_config(cfg.data)
        loader = make_loader(data, cfg.train.batch_size, torch.device("cpu"), seed=0)
        return Trainer.build(cfg, data.num_classes, data.resolution, data.channels, torch.device("cpu")), loader
    return build
