"""The analysis pictures (interpolation, nearest neighbours, per-class FID, power spectrum): each is a PNG of
the right shape, and each computes what it claims — a property that a wrong implementation would fail."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import condgan
from condgan.analysis import class_fid, interpolation, neighbours, spectrum
from condgan.errors import UsageError


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny digits run (2 training steps: the analyses need a generator, not a good one)."""
    from condgan.config import load_config
    from conftest import tiny
    folder = tmp_path_factory.mktemp("analysis") / "run"
    condgan.train(load_config("digits", tiny({"train.steps": 2})), folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def sampler(run):
    return condgan.load(run)


@pytest.fixture(scope="module")
def digits(run) -> np.ndarray:
    """The run's training images, read as the report reads them (1,797 digits at 16 px)."""
    from condgan.metrics.evaluate import read_image_set
    cfg = condgan.load_config(str(run / "config.yaml"))
    return read_image_set(cfg.data.source, cfg.data)[0]


# ---------------------------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("truncation", [None, 0.7])
def test_interpolation_endpoints_are_the_direct_samples(sampler, truncation):
    frames = interpolation.interpolate_z(sampler, 3, seed_a=5, seed_b=9, steps=6, truncation=truncation)
    assert frames.shape == (6, 16, 16, 1) and frames.dtype == torch.uint8
    assert torch.equal(frames[0], sampler.sample([3], truncation=truncation, seed=5)[0])
    assert torch.equal(frames[-1], sampler.sample([3], truncation=truncation, seed=9)[0])
    assert not torch.equal(frames[0], frames[-1])
    across = interpolation.interpolate_classes(sampler, 2, 7, seed=4, steps=5, truncation=truncation)
    assert across.shape == (5, 16, 16, 1)
    assert torch.equal(across[0], sampler.sample([2], truncation=truncation, seed=4)[0])
    assert torch.equal(across[-1], sampler.sample([7], truncation=truncation, seed=4)[0])
    # the path passes through something that is neither endpoint
    assert not torch.equal(across[2], across[0]) and not torch.equal(across[2], across[-1])


def test_class_interpolation_leaves_the_generator_as_it_was(sampler):
    before = sampler.sample([1, 8], seed=3)
    interpolation.interpolate_classes(sampler, 1, 8, seed=3, steps=3)
    assert torch.equal(sampler.sample([1, 8], seed=3), before)  # the embedding hook is gone
    with pytest.raises(UsageError, match="outside"):
        interpolation.interpolate_z(sampler, 10, 0, 1)
    with pytest.raises(UsageError, match="at least 2"):
        interpolation.interpolate_z(sampler, 0, 0, 1, steps=1)


def test_unconditional_generator_has_no_class_path():
    g = torch.nn.Module()
    g.num_classes = 1
    with pytest.raises(UsageError, match="no class embedding"):
        interpolation.class_embedding(g)


def test_interpolation_figures(sampler, tmp_path):
    z_png, class_png = interpolation.write_figures(sampler, tmp_path, [0, 4, 9], sampler.class_names, steps=5)
    for png in (z_png, class_png):
        with Image.open(png) as im:
            assert im.format == "PNG" and 250 < im.width < 1200 and 120 < im.height < 900


# ---------------------------------------------------------------------------------------------- neighbours


def test_nearest_matches_brute_force_across_chunks():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(9000, 4))  # more than one chunk of 8192
    query = np.concatenate([ref[[5, 8500]], rng.normal(size=(3, 4))])
    idx, dist = neighbours.nearest(query, ref, k=4)
    full = np.linalg.norm(query[:, None] - ref[None], axis=-1)
    assert np.array_equal(idx, np.argsort(full, axis=1)[:, :4])
    assert np.allclose(dist, np.sort(full, axis=1)[:, :4])
    assert idx[0, 0] == 5 and idx[1, 0] == 8500 and dist[0, 0] == 0 and dist[1, 0] == 0


def test_the_nearest_training_image_of_a_training_image_is_itself(digits, tmp_path):
    """Through the whole pipeline, in a domain evaluator's features and in pixels."""
    from condgan.metrics.evaluator import train_evaluator
    net, _ = train_evaluator(digits[:600], np.arange(600) % 10, [str(i) for i in range(10)], epochs=1, width=4,
                             log=lambda s: None)
    picks = np.array([0, 17, 123, 599, 1000, 1796])
    for features, desc in ((net, "evaluator"), (neighbours.PixelFeatures(), "pixels")):
        nb = neighbours.nearest_training_images(digits[picks], picks % 10, digits, features, desc,
                                                torch.device("cpu"), k=3, cache=tmp_path)
        assert nb.images.shape == (6, 3, 16, 16, 1) and nb.distances.shape == (6, 3)
        assert np.array_equal(nb.indices[:, 0], picks), desc
        assert (nb.distances[:, 0] < 1e-4 * nb.distances[:, 1]).all(), desc
        assert np.array_equal(nb.images[:, 0], digits[picks])
        assert (np.diff(nb.distances, axis=1) >= 0).all()


def test_neighbours_figure(sampler, digits, tmp_path):
    png, nb = neighbours.write_figure(sampler, digits[:300], tmp_path, [0, 5], neighbours.PixelFeatures(), "pixels",
                                      sampler.class_names, k=4)
    assert nb.queries.shape == (2, 16, 16, 1) and nb.indices.shape == (2, 4)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 150


def test_feature_space_falls_back_to_pixels_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path))  # no Inception weights in an empty cache
    monkeypatch.delenv("CONDGAN_INCEPTION_WEIGHTS", raising=False)
    net, desc = neighbours.feature_space("auto", torch.device("cpu"), "inception")
    assert isinstance(net, neighbours.PixelFeatures) and desc.startswith("pixels (no Inception")


# ---------------------------------------------------------------------------------------------- spectrum


@pytest.mark.parametrize("size,k", [(32, 5), (16, 3)])
def test_spectrum_of_a_sinusoid_peaks_at_its_frequency(size, k):
    rng = np.random.default_rng(0)
    x = np.arange(size)
    phases = rng.uniform(0, 2 * np.pi, 20)
    waves = np.stack([128 + 100 * np.cos(2 * np.pi * k * x / size + p) for p in phases])  # (20, W), along x
    images = np.repeat(waves[:, None, :], size, axis=1)[..., None].round().astype(np.uint8)
    spec = spectrum.mean_log_power(images)
    assert spec.shape == (size, size)
    c = size // 2
    spec[c, c] = -np.inf  # zero frequency: the images' mean brightness, not their content
    peak = np.unravel_index(np.argmax(spec), spec.shape)
    assert peak in ((c, c + k), (c, c - k))
    # a ring of radius k around zero frequency is where the radial profile peaks
    yy, xx = np.indices((size, size))
    ring = np.where(np.rint(np.hypot(yy - c, xx - c)) == k, 10.0, 0.0)
    profile = spectrum.radial_profile(ring)
    assert len(profile) == size // 2 + 1 and int(np.argmax(profile)) == k and profile[k] == 10.0
    # the same content vertically peaks on the other axis
    turned = spectrum.mean_log_power(images.transpose(0, 2, 1, 3))
    turned[c, c] = -np.inf
    assert np.unravel_index(np.argmax(turned), turned.shape) in ((c + k, c), (c - k, c))


def test_smooth_content_is_removed():
    ramp = np.broadcast_to(np.linspace(0, 255, 16)[None, :, None, None], (4, 16, 16, 1)).round().astype(np.uint8)
    flat = spectrum.mean_log_power(np.full((4, 16, 16, 1), 77, np.uint8))
    assert flat.max() < -100  # nothing left but the 1e-12 floor
    assert spectrum.mean_log_power(ramp).max() < spectrum.mean_log_power(ramp, remove_smooth=False).max() - 20


def test_spectrum_grey_and_figure(sampler, digits, tmp_path):
    rgb = np.repeat(digits[:10], 3, axis=-1)
    assert np.allclose(spectrum.to_grey(rgb), spectrum.to_grey(digits[:10]), rtol=2e-4)  # luma weights sum to ~1
    assert np.allclose(spectrum.mean_log_power(rgb), spectrum.mean_log_power(digits[:10]), atol=1e-2)
    png, real, fake = spectrum.write_figure(sampler, digits, tmp_path, num=64)
    assert real.shape == fake.shape == (16, 16) and not np.allclose(real, fake)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 600 and im.height > 200


# ---------------------------------------------------------------------------------------------- per-class FID


def test_per_class_fid_is_read_from_the_newest_evaluation_and_sorted(tmp_path):
    import os
    assert class_fid.read_class_fid(tmp_path) is None
    old = {"intra_fid_mean": 9.0, "intra_fid": {"0": 9.0}}
    new = {"intra_fid_mean": 20.0, "intra_fid": {str(c): float(v) for c, v in enumerate([30, 5, 50, 12, 3])}}
    (tmp_path / "metrics-old.json").write_text(json.dumps(old))
    (tmp_path / "metrics-new.json").write_text(json.dumps(new))
    (tmp_path / "metrics-plain.json").write_text(json.dumps({"fid": 1.0}))
    os.utime(tmp_path / "metrics-old.json", (1, 1))
    found = class_fid.read_class_fid(tmp_path)
    assert found.source.name == "metrics-new.json" and found.mean == 20.0 and found.values[2] == 50.0
    rows, left_out = class_fid.ranked(found.values)
    assert [c for c, _ in rows] == [2, 0, 3, 1, 4] and left_out == 0  # worst first
    png, _ = class_fid.write_figure(tmp_path, tmp_path, names=["zero", "one", "two", "three", "four"])
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 150


def test_many_classes_keep_the_extremes():
    values = {c: float((c * 37) % 1000) for c in range(1000)}
    rows, left_out = class_fid.ranked(values, limit=40)
    assert len(rows) == 40 and left_out == 960
    shown = [v for _, v in rows]
    assert shown[0] == max(values.values()) and shown[-1] == min(values.values())
    assert shown == sorted(shown, reverse=True)
