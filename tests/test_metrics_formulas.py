"""Metric formulas (condgan.metrics.*): closed forms, hand-checkable toys, and reference packages if installed."""

import warnings

import numpy as np
import pytest
import torch

from condgan.metrics.accuracy import accuracy, topk_accuracy
from condgan.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from condgan.metrics.inception_score import inception_score
from condgan.metrics.intra_fid import intra_class_fid
from condgan.metrics.kid import kid_from_features, mmd2_unbiased, polynomial_kernel
from condgan.metrics.msssim import class_msssim, max_scales, ms_ssim
from condgan.metrics.prdc import density_coverage, precision_recall, prdc

MODES = ["torch-fidelity", "pytorch-fid"]


# ---------------------------------------------------------------- FID
@pytest.mark.parametrize("mode", MODES)
def test_fid_identical_statistics_is_zero(mode):
    x = np.random.default_rng(0).standard_normal((400, 16))
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == np.float64 and sigma.shape == (16, 16)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))
    assert abs(frechet_distance(mu, sigma, mu, sigma, mode=mode)) < 1e-8


@pytest.mark.parametrize("mode", MODES)
def test_fid_matches_closed_form_for_diagonal_gaussians(mode):
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    v1, v2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    got = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2), mode=mode)
    assert got == pytest.approx(expected, rel=1e-10)
    # and with a common rotation (non-diagonal but commuting covariances)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    got = frechet_distance(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T, mode=mode)
    assert got == pytest.approx(expected, rel=1e-8)


def test_fid_from_features_uses_feature_statistics():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) * 1.5 + 0.3
    direct = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert fid_from_features(a, b) == pytest.approx(direct, rel=1e-12)
    assert fid_from_features(a, b) > 1.0
    assert fid_from_features(a, b, mode="pytorch-fid") == pytest.approx(direct, rel=1e-9)


def test_fid_modes_differ_only_where_documented():
    # negative eigenvalue of S1 S2: torch-fidelity drops it (real part of sqrt is 0); pytorch-fid raises
    s1, s2, mu = np.diag([1.0, -1.0]), np.eye(2), np.zeros(2)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(0.0 + 2.0 - 2.0 * 1.0)
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(mu, s1, mu, s2, mode="pytorch-fid")
    # product without a square root (sqrtm gives inf): pytorch-fid retries with eps on both diagonals
    s1 = np.array([[0.0, 1.0], [0.0, 0.0]])
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(2.0)
    eps = 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's LinAlgWarning
        with pytest.warns(RuntimeWarning, match="adding"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=DeprecationWarning)
                got = frechet_distance(mu, s1, mu, s2, mode="pytorch-fid", eps=eps)
    assert got == pytest.approx(2.0 - 4 * np.sqrt(eps * (1 + eps)), rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(mu, s1, mu, s2, mode="nope")


# ---------------------------------------------------------------- KID
def _literal_mmd2_unbiased(x, y, degree=3, coef0=1.0):
    gamma = 1.0 / x.shape[1]
    k = lambda a, b: (gamma * float(a @ b) + coef0) ** degree  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_literal_unbiased_mmd2_with_torch_fidelity_draws():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((30, 5)), rng.standard_normal((25, 5)) + 0.5
    mean, std = kid_from_features(real, fake, subsets=3, subset_size=10, seed=7)
    draws = np.random.RandomState(7)
    vals = []
    for _ in range(3):  # torch-fidelity order: input1 (generated) first, then real
        f = fake[draws.choice(25, 10, replace=False)]
        r = real[draws.choice(30, 10, replace=False)]
        vals.append(_literal_mmd2_unbiased(f, r))
    assert mean == pytest.approx(np.mean(vals), rel=1e-10)
    assert std == pytest.approx(np.std(vals), rel=1e-8)
    k = lambda a, b: polynomial_kernel(a, b)  # noqa: E731
    assert mmd2_unbiased(k(real[:10], real[:10]), k(real[:10], fake[:10]), k(fake[:10], fake[:10])) == pytest.approx(
        _literal_mmd2_unbiased(real[:10], fake[:10]), rel=1e-10)


def test_kid_near_zero_for_same_distribution_positive_when_shifted():
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((400, 16)).astype(np.float32) for _ in range(2))
    same_mean, same_std = kid_from_features(a, b, subsets=20, subset_size=200)
    shifted_mean, _ = kid_from_features(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same_mean) < max(3 * same_std, 1e-3)
    assert shifted_mean > 0.1 and shifted_mean > 20 * same_std
    with pytest.raises(ValueError, match="subset_size"):
        kid_from_features(a, b, subset_size=1000)


# ---------------------------------------------------------------- Inception Score
def test_inception_score_uniform_and_confident_logits():
    mean, std = inception_score(np.zeros((100, 1008), np.float32))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    c = 10
    logits = 50.0 * np.eye(c)[np.arange(1000) % c]  # each unshuffled split holds 10 of every class
    mean, std = inception_score(logits, shuffle=False)
    assert mean == pytest.approx(c, rel=1e-6) and std < 1e-6
    mean_shuffled, _ = inception_score(logits)  # shuffled splits are slightly unbalanced
    assert 9.0 < mean_shuffled <= c + 1e-9


def test_inception_score_matches_hand_computation_with_uneven_splits():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((23, 7)) * 3
    perm = np.random.RandomState(11).permutation(23)
    x = logits[perm]
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(4):
        chunk = p[i * 23 // 4:(i + 1) * 23 // 4]
        kl = (chunk * (np.log(chunk) - np.log(chunk.mean(0, keepdims=True)))).sum(1).mean()
        scores.append(np.exp(kl))
    mean, std = inception_score(logits, splits=4, seed=11)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10) and std == pytest.approx(np.std(scores), rel=1e-8)


# ---------------------------------------------------------------- precision / recall / density / coverage
def test_prdc_toy_1d_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii: all 1
    fake = np.array([[0.5], [10.0]])  # k=1 radii: both 9.5
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 0) / (1 * 2)) and coverage == pytest.approx(0.5)
    # on the ball's boundary: in for precision (<=, torch-fidelity), out for density/coverage (<, prdc)
    boundary = np.array([[4.0], [4.0]])
    assert precision_recall(real, boundary, k=1)[0] == 1.0
    assert density_coverage(real, boundary, k=1) == (0.0, 0.0)


def test_prdc_batching_does_not_change_results():
    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((150, 8)), rng.standard_normal((120, 8)) + 0.3
    full = prdc(real, fake, batch_size=10_000)
    assert prdc(real, fake, batch_size=7) == full
    assert set(full) == {"precision", "recall", "density", "coverage"}
    assert 0 < full["precision"] < 1 and 0 < full["recall"] < 1 and 0 < full["coverage"] < 1


def test_prdc_matches_prdc_package():
    ref_prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(7)
    real = rng.standard_normal((300, 32)).astype(np.float32)
    fake = (rng.standard_normal((250, 32)) * 1.2 + 0.2).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ref_prdc.compute_prdc(real, fake, nearest_k=5)
    density, coverage = density_coverage(real, fake, k=5)
    assert density == pytest.approx(float(ref["density"]), abs=1e-12)
    assert coverage == pytest.approx(float(ref["coverage"]), abs=1e-12)
    # prdc's precision/recall use '<' instead of '<='; identical without ties
    precision, recall = precision_recall(real, fake, k=5)
    assert precision == pytest.approx(float(ref["precision"]), abs=1e-6)
    assert recall == pytest.approx(float(ref["recall"]), abs=1e-6)


# ---------------------------------------------------------------- intra-class FID
def test_intra_class_fid_equals_per_class_fid():
    rng = np.random.default_rng(8)
    real_labels, fake_labels = np.repeat([0, 1, 2], 40), np.tile([2, 1, 0], 30)
    real = rng.standard_normal((120, 6)) + real_labels[:, None]
    fake = rng.standard_normal((90, 6)) * 1.3 + fake_labels[:, None] + 0.2
    out = intra_class_fid(real, real_labels, fake, fake_labels)
    assert sorted(out["per_class"]) == [0, 1, 2]
    for c in range(3):
        assert out["per_class"][c] == pytest.approx(fid_from_features(real[real_labels == c], fake[fake_labels == c]))
    assert out["mean"] == pytest.approx(np.mean(list(out["per_class"].values())))
    few = fake_labels.copy()
    few[np.flatnonzero(few == 2)[1:]] = 0  # class 2 keeps a single fake sample
    with pytest.raises(ValueError, match="class 2"):
        intra_class_fid(real, real_labels, fake, few)


# ---------------------------------------------------------------- accuracy
def test_topk_accuracy_on_hand_made_logits():
    logits = torch.tensor([
        [9.0, 8, 7, 6, 5, 4],  # label 0: top-1 hit
        [9.0, 8, 7, 6, 5, 4],  # label 4: rank 5 -> top-5 hit only
        [9.0, 8, 7, 6, 5, 4],  # label 5: rank 6 -> miss
        [0.0, 0, 0, 1, 0, 0],  # label 3: top-1 hit
    ])
    labels = np.array([0, 4, 5, 3])
    assert accuracy(logits, labels) == (0.5, 0.75)
    assert topk_accuracy(logits.numpy(), labels, ks=(1, 2, 6)) == {1: 0.5, 2: 0.5, 6: 1.0}
    # fewer classes than 5: top-5 is top-3, i.e. always a hit
    assert accuracy(np.array([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]]), [0, 0]) == (0.5, 1.0)
    with pytest.raises(ValueError):
        accuracy(logits, [0, 1, 2, 6])


# ---------------------------------------------------------------- MS-SSIM
def _images(n, size, seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 8, size // 8, generator=g) * 255
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


def test_msssim_identity_noise_and_size_rules():
    x = _images(1, 176, 0)
    assert torch.allclose(ms_ssim(x, x), torch.ones(1, dtype=torch.float64), atol=1e-12)
    g = torch.Generator().manual_seed(1)
    vals = [ms_ssim(x, (x + s * torch.randn(x.shape, generator=g)).clamp(0, 255)).mean().item() for s in (5, 20, 60)]
    assert 1 > vals[0] > vals[1] > vals[2] > 0
    assert [max_scales(s) for s in (10, 11, 32, 64, 128, 160, 161, 512)] == [0, 1, 2, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError, match="too small"):
        ms_ssim(x[..., :160, :160], x[..., :160, :160])
    small = _images(2, 32, 2)  # 32 px: 2 scales with the 11-tap window, or 5 with a 3-tap one
    assert ms_ssim(small, small, weights=(0.5, 0.5)).sub(1).abs().max() < 1e-12
    assert ms_ssim(small, small.flip(0), win_size=3, weights=(0.25,) * 4).max() < 1


def test_msssim_matches_pytorch_msssim():
    ref = pytest.importorskip("pytorch_msssim")
    x = _images(2, 176, 3)
    y = (x + 25 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 255)
    expected = ref.ms_ssim(x, y, data_range=255, size_average=False)  # float32 inside
    assert torch.allclose(ms_ssim(x, y).float(), expected, atol=1e-5, rtol=0)
    xu, yu = x[:1].round().to(torch.uint8), y[:1].round().to(torch.uint8)  # uint8 in = its float values in
    assert torch.equal(ms_ssim(xu, yu), ms_ssim(xu.double(), yu.double()))
    weights = (0.2, 0.3, 0.5)  # fewer scales on a smaller image, with a 7-tap window
    x64, y64 = x[..., :100, :100], y[..., :100, :100]
    expected = ref.ms_ssim(x64.double(), y64.double(), data_range=255, size_average=False, win_size=7, weights=weights)
    # float64 both sides: the remaining ~1e-7 comes from its float32-rounded window
    assert torch.allclose(ms_ssim(x64, y64, win_size=7, weights=weights), expected, atol=1e-6, rtol=0)


def test_class_msssim_diversity():
    same = _images(1, 32, 5).expand(6, -1, -1, -1)  # class 0: six copies of one image
    varied = _images(6, 32, 6)  # class 1: six different images
    images, labels = torch.cat([same, varied]), np.repeat([0, 1], 6)
    out = class_msssim(images.round().to(torch.uint8), labels, pairs_per_class=20, seed=0)
    assert out["per_class"][0] == pytest.approx(1.0)
    assert out["per_class"][1] < 0.9
    assert out["mean"] == pytest.approx((out["per_class"][0] + out["per_class"][1]) / 2)
    again = class_msssim(images.round().to(torch.uint8), labels, pairs_per_class=20, seed=0, batch_size=3)
    assert again["per_class"][1] == pytest.approx(out["per_class"][1], abs=1e-12)
    with pytest.raises(ValueError, match="class 2"):
        class_msssim(images[:7], np.r_[[0] * 6, [2]])


def test_all_functions_accept_numpy_and_torch():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((50, 4)).astype(np.float32), rng.standard_normal((50, 4)).astype(np.float32)
    for f in (precision_recall, density_coverage):
        assert f(a, b) == f(torch.from_numpy(a), torch.from_numpy(b))
    assert inception_score(a, splits=5) == inception_score(torch.from_numpy(a), splits=5)
    np.testing.assert_allclose(feature_statistics(torch.from_numpy(a))[0], a.astype(np.float64).mean(0), rtol=1e-12)
