import numpy as np
import pytest
import torch
from PIL import Image

from condgan.sample import make_grid, to_uint8, truncated_normal, write_samples
from condgan.training.ema import EMA, standing_stats


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncated_normal_bounds_and_shape(threshold):
    z = truncated_normal((4000, 8), threshold, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 8)
    assert z.abs().max() <= threshold
    # resampling (not clamping): no pile-up at the threshold, and the spread is that of a truncated normal
    assert (z.abs() > 0.999 * threshold).float().mean() < 0.01
    assert 0.2 * threshold < z.std() < threshold


def test_truncated_normal_without_threshold_is_standard_normal():
    z = truncated_normal((20000,), None, torch.Generator().manual_seed(0))
    assert z.abs().max() > 3.0 and abs(z.std().item() - 1.0) < 0.03


def test_truncated_normal_is_seeded():
    a = truncated_normal((100,), 0.5, torch.Generator().manual_seed(3))
    b = truncated_normal((100,), 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_to_uint8_range_and_layout():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    out = to_uint8(x)
    assert out.shape == (1, 2, 2, 1) and out.dtype == torch.uint8
    assert out.flatten().tolist() == [0, 128, 255, 255]


def test_grid_layout():
    imgs = np.stack([np.full((2, 3, 1), i, np.uint8) for i in range(6)])
    g = make_grid(imgs, rows=2, pad=1)
    assert g.shape == (2 * 2 + 1, 3 * 3 + 2, 1)
    assert g[0, 0, 0] == 0 and g[3, 0, 0] == 3 and g[0, 4, 0] == 1


def test_write_samples_npz_png_and_folder(tmp_path):
    images = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3])
    write_samples(images, labels, tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as f:
        assert np.array_equal(f["images"], images.numpy()) and f["labels"].tolist() == [0, 1, 2, 3]
    write_samples(images, labels, tmp_path / "s.png", rows=2)
    assert Image.open(tmp_path / "s.png").size == (17, 17)
    write_samples(images, labels, tmp_path / "dir")
    assert sorted(p.name for p in (tmp_path / "dir").iterdir())[0] == "000000-class0.png"
    with pytest.raises(ValueError, match="s.jpg"):
        write_samples(images, labels, tmp_path / "s.jpg")


def test_ema_update():
    src, ema_net = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ema = EMA(decay=0.9, start=5)
    before = ema_net.weight.detach().clone()
    ema.update(ema_net, src, step=0)  # before the start step: a plain copy
    assert torch.equal(ema_net.weight, src.weight)
    with torch.no_grad():
        src.weight.add_(1.0)
    ema.update(ema_net, src, step=5)
    assert torch.allclose(ema_net.weight, 0.9 * (src.weight - 1.0) + 0.1 * src.weight)
    assert not torch.equal(ema_net.weight, before)


def test_ema_copies_buffers():
    src, dst = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    src.running_mean.fill_(2.0)
    EMA(0.99, 0).update(dst, src, step=10)
    assert torch.equal(dst.running_mean, src.running_mean)


def test_standing_stats_measure_the_current_weights():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(2)

        def forward(self, z, y):
            return self.bn(z * 3.0 + 1.0)

    net = Net().eval()
    gen = torch.Generator().manual_seed(0)
    standing_stats(net, lambda: (torch.randn(512, 2, generator=gen), None), batches=8)
    assert not net.training and not net.bn.training
    assert torch.allclose(net.bn.running_mean, torch.full((2,), 1.0), atol=0.1)
    assert torch.allclose(net.bn.running_var, torch.full((2,), 9.0), rtol=0.1)
    assert net.bn.momentum == 0.1  # restored
