import pytest
import torch

torch.set_num_threads(2)

TINY = {  # a BigGAN small enough to train a few steps in a test on 2 CPU cores
    "data.resolution": 16, "G.ch": 2, "D.ch": 2, "G.z_dim": 12, "G.shared_dim": 8, "G.attn_res": 8,
    "D.attn_res": 8, "train.batch_size": 8, "train.d_steps": 2, "train.steps": 4, "train.log_every": 2,
    "train.grid_every": 2, "train.ckpt_every": 2, "train.ema_start": 1, "train.standing_stats": 2,
    "train.grid_per_class": 2,
}


@pytest.fixture
def tiny_overrides():
    return dict(TINY)
