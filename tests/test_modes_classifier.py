"""The MNIST classifier shipped with condgan: integrity, accuracy on real digits, Stacked-MNIST mode counts and
its use as a feature network (StackedDigitFeatures)."""
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from condgan.data.stacked_mnist import pad_digits, stack_mnist
from condgan.metrics.evaluate import array_batches, extract
from condgan.metrics.modes import (MNIST_CLASSIFIER_PATH, MNIST_CLASSIFIER_SHA256, StackedDigitFeatures,
                                   digit_classes, load_mnist_classifier, mode_coverage)
from condgan.metrics.weights import WeightsHashError, sha256_file

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def classifier():
    return load_mnist_classifier()


@pytest.fixture(scope="module")
def mnist_test():
    if not MNIST.is_file():
        pytest.skip(f"real MNIST not found at {MNIST} (an .npz with x_test, y_test); the accuracy and mode-count "
                    "checks need real digits")
    with np.load(MNIST) as f:
        return f["x_test"], f["y_test"].astype(np.int64)


def test_shipped_classifier_loads_with_verified_hash(classifier):
    assert MNIST_CLASSIFIER_PATH.is_file() and MNIST_CLASSIFIER_PATH.stat().st_size < 1_000_000
    assert sha256_file(MNIST_CLASSIFIER_PATH) == MNIST_CLASSIFIER_SHA256
    assert not classifier.training
    assert (classifier.channels, classifier.num_classes, classifier.resolution) == (1, 10, 32)


def test_corrupted_or_missing_file_is_refused(tmp_path):
    bad = tmp_path / "corrupt_classifier.pt"
    shutil.copyfile(MNIST_CLASSIFIER_PATH, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsHashError, match="corrupt_classifier.pt") as e:
        load_mnist_classifier(bad)
    assert MNIST_CLASSIFIER_SHA256 in str(e.value) and sha256_file(bad) in str(e.value)

    good = tmp_path / "copy.pt"  # a faithful copy passes, wherever it lives
    shutil.copyfile(MNIST_CLASSIFIER_PATH, good)
    assert load_mnist_classifier(good).num_classes == 10

    with pytest.raises(FileNotFoundError, match=r"missing\.pt.*scripts/train_mnist_classifier\.py"):
        load_mnist_classifier(tmp_path / "missing.pt")


def test_classifies_real_mnist_test_digits(classifier, mnist_test):
    images, labels = mnist_test
    idx = np.random.default_rng(0).choice(len(images), 2000, replace=False)
    x = torch.from_numpy(pad_digits(images[idx]))[:, None]
    with torch.no_grad():
        pred = torch.cat([classifier(x[i:i + 500])["logits"].argmax(1) for i in range(0, len(x), 500)])
    accuracy = (pred.numpy() == labels[idx]).mean()
    assert accuracy >= 0.99, accuracy


def test_mode_counts_on_real_stacked_mnist(classifier, mnist_test):
    images, labels = mnist_test
    x, y = stack_mnist(images, labels, n=3000, seed=0)
    classes = digit_classes(x, classifier)
    assert (classes == y).mean() > 0.97  # three digits right in a row
    cover = mode_coverage(classes)
    assert cover["modes"] > 900, cover  # 3000 uniform draws from 1000 modes reach ~950
    assert cover["reverse_kl"] < 0.6
    with torch.no_grad():  # the feature network's 1000-way logits read the same modes
        logits = StackedDigitFeatures(classifier)(torch.from_numpy(x[:100]))["logits"]
    assert np.array_equal(logits.argmax(dim=1).numpy(), classes[:100])

    # a generator collapsed onto one image: one mode, the right one, and the largest reverse KL
    one = np.repeat(x[:1], 50, axis=0)
    collapsed = digit_classes(one, classifier)
    assert mode_coverage(collapsed) == {"modes": 1, "reverse_kl": pytest.approx(math.log(1000))}
    assert collapsed[0] == y[0]

    # one triple in many handwritings (3, 7, 1): nearly all samples fall in that one mode
    pick = [np.flatnonzero(labels == d)[:100] for d in (3, 7, 1)]
    same = np.stack([pad_digits(images[p]) for p in pick], axis=1)
    counts = np.bincount(digit_classes(same, classifier), minlength=1000)
    assert counts.argmax() == 371 and counts[371] >= 95


def test_stacked_digit_features(classifier):
    net = StackedDigitFeatures(classifier)
    assert (net.channels, net.num_classes, net.resolution, net.feature_dim) == (3, 1000, 32, 3 * classifier.feature_dim)
    x = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    x[:20] = torch.from_numpy(stack_mnist(np.random.default_rng(1).integers(0, 256, (30, 28, 28), dtype=np.uint8),
                                          np.arange(30) % 10, n=20, seed=1)[0])
    with torch.no_grad():
        out = net(x)
        per_channel = [classifier(x[:, c:c + 1]) for c in range(3)]
    assert out["pool"].shape == (40, net.feature_dim) and out["logits"].shape == (40, 1000)
    assert torch.allclose(out["pool"], torch.cat([o["pool"] for o in per_channel], dim=1), atol=1e-5)
    assert torch.allclose(out["logits"].logsumexp(dim=1), torch.zeros(40), atol=1e-4)  # log-probabilities
    assert np.array_equal(out["logits"].argmax(dim=1).numpy(), digit_classes(x, classifier))
    with pytest.raises(ValueError, match="3, H, W"):
        net(x[:, :1])

    # the interface condgan.metrics.evaluate uses for feature networks: uint8 NCHW in, float64 features out
    feats = extract(net, array_batches(x.permute(0, 2, 3, 1).numpy(), None, 16), torch.device("cpu"))
    assert feats.pool.shape == (40, net.feature_dim) and feats.logits.shape == (40, 1000)
