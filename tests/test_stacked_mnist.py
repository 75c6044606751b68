import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from condgan.data import DataError, load_images
from condgan.data.stacked_mnist import pad_digits, read_stacked_mnist, stack_mnist
from condgan.metrics.modes import digit_classes, mode_coverage

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def synthetic_mnist(per_digit: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """28x28 'digits' whose every pixel encodes the digit (value 20 * d + 10) and the copy (+ k)."""
    labels = np.repeat(np.arange(10), per_digit)
    copy = np.tile(np.arange(per_digit), 10)
    images = np.broadcast_to((20 * labels + 10 + copy)[:, None, None], (len(labels), 28, 28)).astype(np.uint8)
    return images, labels


def test_stacking_labels_match_the_digits_used():
    images, labels = synthetic_mnist()
    x, y = stack_mnist(images, labels, n=500, seed=3)
    assert x.shape == (500, 3, 32, 32) and x.dtype == np.uint8
    assert y.shape == (500,) and y.dtype == np.int64
    assert (x[:, :, :2].max(), x[:, :, -2:].max(), x[:, :, :, :2].max(), x[:, :, :, -2:].max()) == (0, 0, 0, 0)
    digits = (x[:, :, 16, 16].astype(int) - 10) // 20  # (500, 3): the digit in R, G, B
    assert np.array_equal(y, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    centre = x[:, :, 2:30, 2:30]
    assert (centre == x[:, :, 16:17, 16:17]).all()  # each channel is one whole, unshifted digit
    assert len(np.unique(y)) > 300  # three independent draws reach many of the 1000 modes


def test_stacking_is_seeded():
    images, labels = synthetic_mnist()
    a, b, c = (stack_mnist(images, labels, n=50, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_other_resolutions_resize_the_padded_digit():
    images, labels = synthetic_mnist()
    assert pad_digits(images, 32).shape == (30, 32, 32)
    x, _ = stack_mnist(images, labels, n=4, seed=0, resolution=64)
    assert x.shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="28, 28"):
        pad_digits(np.zeros((2, 32, 32), np.uint8))


def test_mode_coverage_uniform_and_collapsed():
    uniform = mode_coverage(np.repeat(np.arange(1000), 7))
    assert uniform["modes"] == 1000
    assert uniform["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    collapsed = mode_coverage(np.full(123, 421))
    assert collapsed["modes"] == 1
    assert collapsed["reverse_kl"] == pytest.approx(math.log(1000))
    half = mode_coverage(np.arange(500))  # 500 modes, p = 1/500 each: KL = log 2
    assert half == {"modes": 500, "reverse_kl": pytest.approx(math.log(2))}
    with pytest.raises(ValueError, match="mode ids"):
        mode_coverage(np.array([1000]))


class IntensityClassifier(nn.Module):
    """Stands in for the MNIST classifier: reads the synthetic digit off the centre pixel."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        assert images.shape[1] == 1 and images.dtype == torch.uint8
        d = (images[:, 0, 16, 16].long() - 10) // 20
        return {"logits": torch.nn.functional.one_hot(d, 10).float() + self.dummy}


def test_digit_classes_reads_each_channel():
    images, labels = synthetic_mnist()
    x, y = stack_mnist(images, labels, n=1200, seed=0)
    classes = digit_classes(torch.from_numpy(x), IntensityClassifier(), batch=256)
    assert np.array_equal(classes, y)
    cov = mode_coverage(classes)
    assert 600 < cov["modes"] < 800 and cov["reverse_kl"] > 0  # 1000 * (1 - exp(-1.2)) = 699 expected


def test_source_string_and_missing_file(tmp_path):
    images, labels = synthetic_mnist()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images, y_train=labels.astype(np.uint8), x_test=images[:10], y_test=labels[:10])
    x, y = read_stacked_mnist(path, n=20, seed=0)
    assert x.shape == (20, 3, 32, 32)
    with pytest.raises(DataError, match="nope.npz"):
        load_images(f"stacked-mnist:{tmp_path / 'nope.npz'}")
    with pytest.raises(DataError, match="names no file"):
        load_images("stacked-mnist:")


@pytest.mark.skipif(not MNIST.exists(), reason=f"real MNIST not found at {MNIST}")
def test_real_mnist_source():
    data = load_images(f"stacked-mnist:{MNIST}")
    assert len(data) == 60000 and data.shape == (32, 32, 3) and data.num_classes == 1000
    assert data.class_names[:2] == ["000", "001"] and data.class_names[-1] == "999"
    assert mode_coverage(data.labels)["modes"] == 1000
    test = load_images(f"stacked-mnist:{MNIST}", split="test")
    assert len(test) == 10000


def test_modes_by_generator_script_counts_each_generator(tmp_path):
    """condgan.metrics.modes.generator_modes: a constant generator covers one mode; and
    scripts/stacked_mnist_modes_by_generator.py reads a tiny unconditional Stacked-MNIST run's checkpoints
    (EMA and raw G, stored and batch statistics)."""
    import subprocess
    import sys
    import condgan
    from condgan.metrics.modes import generator_modes, load_mnist_classifier

    class Constant(nn.Module):
        z_dim = 4

        def forward(self, z, y):
            return torch.zeros(len(z), 3, 32, 32) + torch.linspace(-1, 1, 3)[None, :, None, None]
    assert generator_modes(Constant(), load_mnist_classifier(), 700) == 1

    images, labels = synthetic_mnist(per_digit=20)
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=labels, x_test=images, y_test=labels)
    cfg = condgan.load_config("stacked-mnist-r3gan", [
        f"data.source=stacked-mnist:{tmp_path / 'mnist.npz'}", "G.arch=biggan", "D.arch=biggan", "G.ch=4", "D.ch=4",
        "G.z_dim=16", "G.shared_dim=4", "G.attn_res=null", "D.attn_res=null", "train.batch_size=8", "train.steps=4",
        "train.ckpt_every=2", "train.grid_every=4", "train.log_every=2", "train.standing_stats=1",
        "train.precision=fp32", "train.device=cpu", "schedule.burn_in_kimg=0"])
    condgan.train(cfg, tmp_path / "run", progress=False)
    script = Path(__file__).resolve().parents[1] / "scripts" / "stacked_mnist_modes_by_generator.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "run"), "--every", "1", "--n", "500"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("| run | step | G_ema |")
    rows = [line.split(" | ") for line in out[2:]]
    assert [r[:2] for r in rows] == [["| run", "2"], ["| run", "4"]]
    assert all(1 <= int(c.strip(" |")) <= 1000 for r in rows for c in r[2:])
