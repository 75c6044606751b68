"""Tests for condgan.data: every source, every bad input, and the loaders' determinism and resume."""

import io
import pickle
import random
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data import DataError, LabelledImages, load_images, make_loader
from condgan.data.loader import ResidentLoader, StreamingLoader

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _images(n, h=8, w=8, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _save_png(path, a):
    Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a).save(path)


def _class_folders(root, classes):
    """classes: {folder name: list of HxWxC uint8 arrays}; files 000.png, 001.png, ..."""
    for name, arrays in classes.items():
        (root / name).mkdir(parents=True)
        for i, a in enumerate(arrays):
            _save_png(root / name / f"{i:03d}.png", a)
    return root


def _memory_data(n=10, c=3, seed=0, k=3):
    images = _images(n, c=c, seed=seed)
    images[:, 0, 0], images[:, 0, 1] = 0, 255  # so every batch spans the full range
    return LabelledImages(labels=np.arange(n) % k, class_names=[str(i) for i in range(k)], images=images,
                          files=None, shape=images.shape[1:], source="test")


# ----------------------------------------------------------------------------
# Sources


def test_digits():
    d = load_images("digits")
    assert d.images.shape == (1797, 32, 32, 1) and d.images.dtype == np.uint8
    assert d.shape == (32, 32, 1) and d.resolution == 32 and d.channels == 1 and len(d) == 1797
    assert d.class_names == [str(i) for i in range(10)] and d.num_classes == 10
    assert d.labels.dtype == np.int64 and set(d.labels.tolist()) == set(range(10))
    assert d.images.max() > 200 and 0 < d.images.mean() < 200  # scaled to 0..255, not all zero or white
    assert d.files is None and d.nbytes == 1797 * 32 * 32


def test_npz_rgb_with_class_names(tmp_path):
    x, y = _images(6), np.array([0, 1, 2, 2, 1, 0])
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["cat", "dog", "emu"]))
    d = load_images(tmp_path / "d.npz")
    assert np.array_equal(d.images, x) and np.array_equal(d.labels, y) and d.labels.dtype == np.int64
    assert d.class_names == ["cat", "dog", "emu"] and d.shape == (8, 8, 3) and d.files is None


def test_npz_grayscale_and_inferred_classes(tmp_path):
    x, y = _images(4, c=1)[..., 0], np.array([0, 3, 1, 3], dtype=np.uint8)
    np.savez(tmp_path / "g.npz", x=x, y=y)
    d = load_images(tmp_path / "g.npz")
    assert d.images.shape == (4, 8, 8, 1) and np.array_equal(d.images[..., 0], x)
    assert d.class_names == ["0", "1", "2", "3"]
    assert load_images(tmp_path / "g.npz", num_classes=6).num_classes == 6


@pytest.mark.parametrize("arrays, culprit", [
    (dict(y=np.zeros(3, int), z=np.zeros(3)), ["'x'", "'y'", "'z'"]),  # missing x: lists the keys it has
    (dict(x=_images(3)), ["'y'", "'x'"]),
    (dict(x=_images(3).astype(np.float32), y=np.zeros(3, int)), ["float32", "uint8"]),
    (dict(x=_images(3), y=np.zeros(3)), ["y", "float64"]),
    (dict(x=_images(3), y=np.zeros(2, int)), ["3 images", "2 labels"]),
    (dict(x=_images(3)[:, 0, 0], y=np.zeros(3, int)), ["(3, 3)"]),  # wrong ndim
    (dict(x=_images(3), y=np.array([0, -1, 0])), ["label -1", "index 1"]),
    (dict(x=_images(3), y=np.array([0, 1, 2]), class_names=np.array(["a", "b"])), ["label 2", "index 2"]),
])
def test_npz_errors(tmp_path, arrays, culprit):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_images(tmp_path / "bad.npz")
    for s in culprit + ["bad.npz"]:
        assert s in str(e.value)


def test_npz_label_outside_num_classes(tmp_path):
    np.savez(tmp_path / "d.npz", x=_images(4), y=np.array([0, 1, 7, 2]))
    assert load_images(tmp_path / "d.npz").num_classes == 8
    with pytest.raises(DataError, match=r"label 7 at index 2 .*\[0, 3\)"):
        load_images(tmp_path / "d.npz", num_classes=3)


def test_npz_truncated(tmp_path):
    np.savez(tmp_path / "t.npz", x=_images(50), y=np.zeros(50, int))
    blob = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(blob[:len(blob) // 2])
    with pytest.raises(DataError, match=r"t\.npz is unreadable"):
        load_images(tmp_path / "t.npz")


def test_folder(tmp_path):
    a, b, c = _images(3, seed=1), _images(2, seed=2), _images(1, seed=3)
    root = _class_folders(tmp_path / "imgs", {"cat": list(a), "ant": list(b), "dog": list(c)})
    Image.fromarray(c[0]).save(root / "dog" / "zzz.PNG")  # extension case does not matter
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()  # hidden folders are not classes
    d = load_images(root)
    assert d.class_names == ["ant", "cat", "dog"]
    assert d.labels.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert np.array_equal(d.images, np.concatenate([b, a, c, c])) and d.shape == (8, 8, 3)


def test_folder_grayscale_and_mixed(tmp_path):
    gray, rgb = _images(2, c=1, seed=1), _images(2, seed=2)
    d = load_images(_class_folders(tmp_path / "g", {"a": list(gray), "b": list(gray)}))
    assert d.shape == (8, 8, 1) and np.array_equal(d.images[:2], gray)
    # Any color image makes the whole set RGB; gray ones are replicated (also when they come first).
    d = load_images(_class_folders(tmp_path / "m", {"a": list(gray), "b": list(rgb)}))
    assert d.shape == (8, 8, 3)
    assert np.array_equal(d.images[:2], np.repeat(gray, 3, axis=3)) and np.array_equal(d.images[2:], rgb)


def test_folder_streamed_when_too_large(tmp_path):
    root = _class_folders(tmp_path / "s", {"x": list(_images(3, seed=1)), "y": list(_images(2, seed=2))})
    d = load_images(root, max_resident_bytes=4 * 8 * 8 * 3)  # 5 images do not fit
    assert d.images is None and d.shape == (8, 8, 3) and d.labels.tolist() == [0, 0, 0, 1, 1]
    assert d.files == [str(root / c / f"00{i}.png") for c, n in [("x", 3), ("y", 2)] for i in range(n)]
    assert load_images(root, max_resident_bytes=5 * 8 * 8 * 3).images is not None


@pytest.mark.parametrize("content", [b"definitely not a png", "truncated"])
@pytest.mark.parametrize("streamed", [False, True])
def test_folder_corrupt_image(tmp_path, content, streamed):
    root = _class_folders(tmp_path / "c", {"a": list(_images(2)), "b": list(_images(2, seed=1))})
    if content == "truncated":
        content = (root / "a" / "000.png").read_bytes()[:60]
    (root / "b" / "000.png").write_bytes(content)  # first of its class: checked even when streamed
    with pytest.raises(DataError, match=r"b/000\.png"):
        load_images(root, max_resident_bytes=0 if streamed else 8 << 30)


def test_folder_empty_class(tmp_path):
    root = _class_folders(tmp_path / "e", {"a": list(_images(2))})
    (root / "empty_cls").mkdir()
    with pytest.raises(DataError, match="empty_cls"):
        load_images(root)


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        load_images(tmp_path / "flat")
    _save_png(tmp_path / "flat" / "a.png", _images(1)[0])
    with pytest.raises(DataError, match="holds images directly"):
        load_images(tmp_path / "flat")


@pytest.mark.parametrize("streamed", [False, True])
def test_folder_inconsistent_shapes(tmp_path, streamed):
    root = _class_folders(tmp_path / "i", {"a": list(_images(2)), "b": list(_images(1, h=10))})
    with pytest.raises(DataError) as e:
        load_images(root, max_resident_bytes=0 if streamed else 8 << 30)
    for s in ["b/000.png", "10x8", "8x8", "a/000.png"]:
        assert s in str(e.value)


def test_unknown_and_missing_sources(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_images(tmp_path / "nope.npz")
    (tmp_path / "data.txt").write_text("hello")
    with pytest.raises(DataError, match=r"data\.txt.*'digits'.*\.npz.*sub-folder.*CIFAR"):
        load_images(tmp_path / "data.txt")
    with pytest.raises(DataError, match="split"):
        load_images("digits", split="val")


# ----------------------------------------------------------------------------
# CIFAR archives, written in the real format (bytes keys, CHW rows, numpy.core globals of Python 2 days)


def _cifar_pickle(obj):
    return pickle.dumps(obj, protocol=3).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _cifar_batch(n, seed, labels_key=b"labels"):
    images = _images(n, 32, 32, 3, seed=seed)
    labels = np.random.default_rng(seed).integers(0, 10, n)
    blob = _cifar_pickle({b"batch_label": b"batch", labels_key: labels.tolist(), b"coarse_labels": [0] * n,
                          b"data": images.transpose(0, 3, 1, 2).reshape(n, 3072), b"filenames": [b"f.png"] * n})
    return blob, images, labels


def _write_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def _cifar10(tmp_path, skip=(), replace=None):
    """A fake cifar-10-python.tar.gz; returns (path, {member: (images, labels)})."""
    members, expected = {}, {}
    for i, m in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        blob, images, labels = _cifar_batch(3, seed=i)
        members[f"cifar-10-batches-py/{m}"], expected[m] = blob, (images, labels)
    members["cifar-10-batches-py/batches.meta"] = _cifar_pickle(
        {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": 3, b"num_vis": 3072})
    members["cifar-10-batches-py/readme.html"] = b"<html></html>"
    for m in skip:
        del members[f"cifar-10-batches-py/{m}"]
    members.update(replace or {})
    return _write_tar(tmp_path / "cifar-10-python.tar.gz", members), expected


def test_cifar10(tmp_path):
    path, expected = _cifar10(tmp_path)
    d = load_images(path)
    train = [expected[f"data_batch_{j}"] for j in range(1, 6)]
    assert d.images.shape == (15, 32, 32, 3) and d.images.dtype == np.uint8 and d.images.flags.c_contiguous
    assert np.array_equal(d.images, np.concatenate([t[0] for t in train]))
    assert np.array_equal(d.labels, np.concatenate([t[1] for t in train])) and d.labels.dtype == np.int64
    assert d.class_names == CIFAR10_NAMES
    t = load_images(path, split="test")
    assert np.array_equal(t.images, expected["test_batch"][0]) and np.array_equal(t.labels, expected["test_batch"][1])


def test_cifar100(tmp_path):
    train, train_images, train_labels = _cifar_batch(4, seed=0, labels_key=b"fine_labels")
    test, test_images, test_labels = _cifar_batch(2, seed=1, labels_key=b"fine_labels")
    names = [f"class{i}" for i in range(100)]
    meta = _cifar_pickle({b"fine_label_names": [n.encode() for n in names], b"coarse_label_names": [b"c"] * 20})
    path = _write_tar(tmp_path / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": train, "cifar-100-python/test": test, "cifar-100-python/meta": meta})
    d = load_images(path)
    assert np.array_equal(d.images, train_images) and np.array_equal(d.labels, train_labels)
    assert d.class_names == names and d.num_classes == 100
    t = load_images(path, split="test")
    assert np.array_equal(t.images, test_images) and np.array_equal(t.labels, test_labels)


def test_cifar_missing_member(tmp_path):
    path, _ = _cifar10(tmp_path, skip=["data_batch_3"])
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz lacks the member cifar-10-batches-py/data_batch_3"):
        load_images(path)
    assert len(load_images(path, split="test")) == 3  # the test split does not need it


def test_cifar_not_an_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="unreadable"):
        load_images(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match="not a CIFAR python archive"):
        load_images(_write_tar(tmp_path / "other.tar.gz", {"foo/bar": b"x"}))


class _Evil:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")  # unpickling creates the file


def test_cifar_malicious_pickle_is_refused(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps({b"data": _Evil(proof)}, protocol=3))[b"data"].close()
    assert proof.exists()  # the payload is live when unpickled naively

    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=3)
    path, _ = _cifar10(tmp_path, replace={"cifar-10-batches-py/data_batch_3": evil})
    with pytest.raises(DataError, match=r"data_batch_3 refers to the Python global io\.open"):
        load_images(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------
# Loaders

KINDS = [("yes", 0), ("no", 0), ("no", 2)]  # (resident, num_workers)


def _loader(data, batch_size=3, kind=("yes", 0), **kw):
    return make_loader(data, batch_size, "cpu", resident=kind[0], num_workers=kind[1], **kw)


def _identify(x, data):
    """(index into data, flipped?) of every image in batch x; asserts each is exactly one of them."""
    u8 = ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    found = []
    for a in u8:
        hits = [(i, False) for i, b in enumerate(data.images) if np.array_equal(a, b)]
        hits += [(i, True) for i, b in enumerate(data.images) if np.array_equal(a, b[:, ::-1])]
        assert len(hits) == 1
        found.append(hits[0])
    return found


def _take(loader, k):
    return [loader.next() for _ in range(k)]


def _same(batches_a, batches_b):
    return all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(batches_a, batches_b))


@pytest.mark.parametrize("kind", KINDS)
def test_loader_batches(kind):
    data = _memory_data(n=10)
    loader = _loader(data, 3, kind)
    assert isinstance(loader, ResidentLoader if kind[0] == "yes" else StreamingLoader)
    for epoch in range(2):
        seen = []
        for x, y in _take(loader, 3):  # 10 // 3 batches; the incomplete last one is dropped
            assert x.shape == (3, 3, 8, 8) and x.dtype == torch.float32 and x.device.type == "cpu"
            assert y.dtype == torch.int64 and y.device.type == "cpu"
            assert -1 <= x.min() and x.max() <= 1
            ids = _identify(x, data)
            assert all(not flipped for _, flipped in ids)
            assert y.tolist() == [data.labels[i] for i, _ in ids]
            seen += [i for i, _ in ids]
        assert len(set(seen)) == 9 and loader.epoch == epoch
    x, _ = loader.next()
    assert loader.epoch == 2
    assert x.min() == -1 and x.max() == 1  # uint8 0 and 255 map to the ends of the range


@pytest.mark.parametrize("kind", KINDS)
def test_loader_seeds(kind):
    data = _memory_data(n=12)
    a, b, c = (_take(_loader(data, 4, kind, seed=s, hflip=True), 5) for s in (7, 7, 8))
    assert _same(a, b) and not _same(a, c)


def test_resident_and_streaming_agree_on_cpu():
    data = _memory_data(n=11)
    batches = [_take(_loader(data, 4, kind, seed=3, hflip=True), 6) for kind in KINDS]
    assert _same(batches[0], batches[1]) and _same(batches[0], batches[2])


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("kind", KINDS)
def test_loader_resume(kind):
    data = _memory_data(n=10)
    reference = _take(_loader(data, 3, kind, seed=5, hflip=True), 4 + 5)
    for k in (2, 3, 4):  # mid-epoch, at the end of an epoch, just after the boundary
        first = _loader(data, 3, kind, seed=5, hflip=True)
        assert _same(_take(first, k), reference[:k])
        state = _roundtrip(first.state_dict())
        resumed = _loader(data, 3, kind, seed=99, hflip=True)  # the seed is overridden by the state
        resumed.next()  # and so is anything it did before
        resumed.load_state_dict(state)
        assert resumed.epoch == first.epoch
        assert _same(_take(resumed, 5), reference[k:k + 5])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_streaming_from_files_resume_skips_without_decoding(tmp_path, num_workers):
    root = _class_folders(tmp_path / "f", {"a": list(_images(5, seed=1)), "b": list(_images(5, seed=2))})
    memory, disk = load_images(root), load_images(root, max_resident_bytes=0)
    kind = ("no", num_workers)
    reference = _take(_loader(memory, 3, ("yes", 0), seed=1, hflip=True), 3)
    first = _loader(disk, 3, kind, seed=1, hflip=True)
    taken = _take(first, 2)
    assert _same(taken, reference[:2])
    # Break the files already consumed: a resumed loader must skip them without decoding them.
    for x, _ in taken:
        for i, _ in _identify(x, memory):
            with open(disk.files[i], "wb") as f:
                f.write(b"broken")
    resumed = _loader(disk, 3, kind, seed=1, hflip=True)
    resumed.load_state_dict(_roundtrip(first.state_dict()))
    assert _same(_take(resumed, 1), reference[2:])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_streaming_decode_error_names_file(tmp_path, num_workers):
    root = _class_folders(tmp_path / "d", {"a": list(_images(4, seed=1))})
    reference = _loader(load_images(root), 4).next()
    good = (root / "a" / "002.png").read_bytes()
    (root / "a" / "002.png").write_bytes(b"garbage")  # not the first of its class: only found when read
    data = load_images(root, max_resident_bytes=0)
    loader = _loader(data, 4, ("no", num_workers))
    with pytest.raises(DataError, match=r"a/002\.png"):
        loader.next()
    (root / "a" / "002.png").write_bytes(good)  # once fixed, the loader retries the same batch
    assert _same([loader.next()], [reference])
    loader.close()  # the traceback above holds this frame in a cycle: don't leave workers to the GC


def test_streaming_close_and_restart():
    data = _memory_data(n=10)
    reference = _take(_loader(data, 3, ("no", 0), hflip=True), 6)
    loader = _loader(data, 3, ("no", 2), hflip=True)
    first = _take(loader, 2)
    loader.close()
    assert _same(first + _take(loader, 4), reference)


@pytest.mark.parametrize("kind", KINDS)
def test_hflip(kind):
    data = _memory_data(n=10)
    loader = _loader(data, 5, kind, hflip=True)
    flips = [flipped for x, _ in _take(loader, 8) for _, flipped in _identify(x, data)]  # checks mirror images
    assert 5 < sum(flips) < 35


@pytest.mark.parametrize("kind", KINDS)
def test_loader_leaves_global_rng_alone(kind):
    data = _memory_data(n=10)
    loader = _loader(data, 4, kind, hflip=True)
    torch.manual_seed(0)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    batches = _take(loader, 5)  # crosses two epoch boundaries
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    # and using the global RNG in between does not change the data order
    other = _loader(data, 4, kind, hflip=True)
    interleaved = []
    for _ in range(5):
        torch.rand(3)
        interleaved.append(other.next())
    assert _same(batches, interleaved)


def test_loader_errors(tmp_path):
    data = _memory_data(n=10)
    with pytest.raises(DataError, match="batch_size=11 is larger .* 10 images"):
        make_loader(data, 11, "cpu")
    with pytest.raises(DataError, match="resident='maybe'"):
        make_loader(data, 2, "cpu", resident="maybe")
    root = _class_folders(tmp_path / "r", {"a": list(_images(2))})
    disk = load_images(root, max_resident_bytes=0)
    assert isinstance(make_loader(disk, 2, "cpu", num_workers=0), StreamingLoader)
    with pytest.raises(DataError, match="resident='yes'.*max_resident_bytes"):
        make_loader(disk, 2, "cpu", resident="yes")
    state = _loader(data, 2, ("yes", 0)).state_dict()
    with pytest.raises(DataError, match="kind='resident'"):
        _loader(data, 2, ("no", 0)).load_state_dict(state)
    with pytest.raises(DataError, match="num_images=10"):
        _loader(_memory_data(n=12), 2, ("yes", 0)).load_state_dict(state)


# ----------------------------------------------------------------------------
# One data path: `from_config` gives what training, bench and evaluate see.


def test_from_config_applies_split_resolution_conditioning_and_residency(tmp_path):
    from condgan.config import load_config
    from condgan.data import from_config
    np.savez(tmp_path / "s.npz", x_train=_images(12), y_train=np.arange(12) % 3, x_test=_images(6, seed=1),
             y_test=np.arange(6) % 3)
    cfg = load_config("digits", {"data.source": str(tmp_path / "s.npz"), "data.split": "test",
                                 "data.resolution": 4})
    d = from_config(cfg.data)
    assert len(d) == 6 and d.shape == (4, 4, 3) and d.num_classes == 3
    cfg = load_config("digits", {"data.source": str(tmp_path / "s.npz"), "data.conditional": False})
    d = from_config(cfg.data)
    assert len(d) == 12 and d.num_classes == 1 and not d.labels.any()
    assert from_config(cfg.data, split="test").labels.shape == (6,)
    # data.max_resident_bytes is a config key: a folder larger than it streams from disk
    root = _class_folders(tmp_path / "f", {"x": list(_images(3, seed=1)), "y": list(_images(2, seed=2))})
    native = {"data.source": str(root), "data.resolution": None}
    assert from_config(load_config("digits", native).data).images is not None
    streamed = from_config(load_config("digits", {**native, "data.max_resident_bytes": 100}).data)
    assert streamed.images is None and len(streamed.files) == 5


def test_data_modules_import_without_cycles():
    """One module per format, and no import cycle among them (sources.py and stacked_mnist.py had one)."""
    import ast
    from pathlib import Path

    import condgan.data
    folder = Path(condgan.data.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    assert {"npz", "folder", "cifar", "digits", "stacked_mnist", "images", "sources"} <= modules
    graph = {}
    for m in modules:
        deps = set()
        for node in ast.walk(ast.parse((folder / f"{m}.py").read_text())):  # function-level imports too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        graph[m] = deps & modules

    def reaches(a, b, seen=()):
        return any(d == b or (d not in seen and reaches(d, b, seen + (d,))) for d in graph[a])
    cycles = [m for m in modules if reaches(m, m)]
    assert not cycles, {m: graph[m] for m in cycles}
