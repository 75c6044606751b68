"""The official tools' dataset formats, read directly: StyleGAN/R3GAN dataset zips and folders (`dataset_tool.py`)
and StudioGAN's HDF5 files (`src/utils/hdf5.py: make_hdf5`). Each test writes a file the way the tool writes it
and checks that condgan's labels are those the tool's own reader gives, that it trains without conversion, and
that every bad member is named."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data import DataError, load_images, make_loader
from condgan.data.loader import StreamingLoader


def _arrays(n, size=16, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, c), dtype=np.uint8)


def _png(a) -> bytes:
    """An uncompressed PNG, as dataset_tool.py saves each image (compress_level=0)."""
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.shape[2] == 1 else a, {1: "L", 3: "RGB"}[a.shape[2]]).save(
        buf, format="png", compress_level=0, optimize=False)
    return buf.getvalue()


def _dataset_tool(dest, images, labels, *, folder=False, extra_members=()):
    """Write `images` as StyleGAN/R3GAN dataset_tool.py does: member {idx:08d}[:5]/img{idx:08d}.png in an
    uncompressed (ZIP_STORED) zip or a folder, then dataset.json with [[name, label], ...] (null when any
    label is None)."""
    entries = []
    files = {}
    for idx, a in enumerate(images):
        s = f"{idx:08d}"
        name = f"{s[:5]}/img{s}.png"
        files[name] = _png(a)
        entries.append([name, labels[idx]] if labels is not None else None)
    meta = {"labels": entries if all(e is not None for e in entries) else None}
    files.update(dict(extra_members))
    files["dataset.json"] = json.dumps(meta).encode()
    if folder:
        for name, data in files.items():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
    else:
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as z:
            for name, data in files.items():
                z.writestr(name, data)
    return dest


def _official_zip_labels(path):
    """What StyleGAN's training/dataset.py ImageFolderDataset gives: image members (PIL's extensions), sorted,
    each looked up in dict(dataset.json['labels']), as int64."""
    Image.init()
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if "." + n.rsplit(".", 1)[-1].lower() in Image.EXTENSION)
        table = dict(json.load(z.open("dataset.json"))["labels"])
        images = [np.array(Image.open(z.open(n))) for n in names]
    return np.array([table[n] for n in names]).astype(np.int64), images


def _train(source, outdir, extra=None):
    from conftest import tiny

    import condgan
    from condgan.config import load_config
    cfg = load_config("digits", tiny({"data.source": str(source), "data.resolution": None, "train.steps": 2,
                                      "train.standing_stats": 1, **(extra or {})}))
    return condgan.train(cfg, outdir, progress=False)


def _same_batches(a, b, k=4):
    for _ in range(k):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


# ----------------------------------------------------------------------------------------------------------
# StyleGAN / R3GAN dataset zips and folders


def test_stylegan_zip_labels_equal_the_official_readers_and_it_trains(tmp_path):
    images = _arrays(24)
    labels = [int(v) for v in np.random.default_rng(1).integers(0, 5, 24)]
    path = _dataset_tool(tmp_path / "ds.zip", images, labels)
    want_labels, want_images = _official_zip_labels(path)
    data = load_images(path)
    assert np.array_equal(data.labels, want_labels) and data.num_classes == int(want_labels.max()) + 1
    assert np.array_equal(data.images, np.stack(want_images)) and np.array_equal(data.images, images)
    # too large for memory: streamed from the zip by DataLoader workers, the same batches
    streamed = load_images(path, max_resident_bytes=0)
    assert streamed.images is None and streamed.files[0] == "00000/img00000000.png"
    a = make_loader(data, 8, "cpu", seed=3, hflip=True)
    b = make_loader(streamed, 8, "cpu", seed=3, hflip=True, num_workers=2)
    assert isinstance(b, StreamingLoader)
    _same_batches(a, b)
    b.close()
    from condgan.training import load_checkpoint
    ckpt = _train(path, tmp_path / "run")
    assert load_checkpoint(ckpt)["data"]["num_classes"] == data.num_classes


def test_stylegan_folder_and_unconditional_datasets(tmp_path):
    images = _arrays(6, c=1, seed=2)
    folder = _dataset_tool(tmp_path / "ds", images, [2, 0, 1, 1, 0, 2], folder=True)
    data = load_images(folder)
    assert data.labels.tolist() == [2, 0, 1, 1, 0, 2] and data.shape == (16, 16, 1)
    assert np.array_equal(data.images, images)
    uncond = load_images(_dataset_tool(tmp_path / "u.zip", _arrays(5), None))  # {"labels": null}
    assert uncond.num_classes == 1 and not uncond.labels.any()


@pytest.mark.parametrize("case, culprit", [
    ("no label", r"00000/img00000002\.png has no label in dataset\.json"),
    ("missing file", r"labels 00000/img00000099\.png, which is not in the dataset \(a missing file\)"),
    ("negative", r"the label of 00000/img00000001\.png is -1, outside"),
    ("fraction", r"the label of 00000/img00000001\.png is 1\.5; condgan trains on integer class ids"),
    ("vector", r"the label of 00000/img00000001\.png is \[0, 1\]"),
    ("no key", r"dataset\.json has no 'labels' key"),
])
def test_stylegan_bad_members_are_named(tmp_path, case, culprit):
    images = _arrays(3)
    path = _dataset_tool(tmp_path / "ds.zip", images, [0, 1, 0])
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members["dataset.json"])
    if case == "no label":
        meta["labels"] = meta["labels"][:2]
    elif case == "missing file":
        meta["labels"].append(["00000/img00000099.png", 0])
    elif case in ("negative", "fraction", "vector"):
        meta["labels"][1][1] = {"negative": -1, "fraction": 1.5, "vector": [0, 1]}[case]
    else:
        meta = {"classes": meta["labels"]}
    members["dataset.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(DataError, match=culprit):
        load_images(path)


def test_stylegan_label_beyond_num_classes_and_mismatched_sizes_are_named(tmp_path):
    path = _dataset_tool(tmp_path / "ds.zip", _arrays(3), [0, 4, 1])
    with pytest.raises(DataError, match=r"the label of 00000/img00000001\.png is 4, outside \[0, 3\)"):
        load_images(path, num_classes=3)
    odd = [*_arrays(2), _arrays(1, size=8)[0]]
    with pytest.raises(DataError, match=r"00000/img00000002\.png in .* is 8x8 \(HxW\) but the first image is 16x16"):
        load_images(_dataset_tool(tmp_path / "odd.zip", odd, [0, 0, 1]))


def test_a_stylegan_zip_prepares_at_another_resolution(tmp_path):
    from condgan.data.prepare import prepare
    images, labels = _arrays(9, size=32), [0, 1, 2] * 3
    path = _dataset_tool(tmp_path / "ffhq.zip", images, labels)
    meta = prepare(path, tmp_path / "store", 16, workers=0, progress=False, log=lambda s: None)
    data = load_images(tmp_path / "store")
    assert meta["source"]["kind"] == "zip" and data.labels.tolist() == labels
    want = Image.fromarray(images[4]).resize((16, 16), Image.Resampling.LANCZOS)  # square: no crop
    assert np.array_equal(data.images[4], np.asarray(want))


# ----------------------------------------------------------------------------------------------------------
# StudioGAN HDF5


def _make_hdf5(path, images, labels, batch=8, layout="NHWC"):
    """Write as StudioGAN's make_hdf5: `imgs` uint8 NHWC and `labels` int64, created from the first batch with
    chunks of `batch` (StudioGAN: 500) and a maxshape of the whole set, then resized and appended batch by batch."""
    h5py = pytest.importorskip("h5py", reason="h5py (the hdf5 extra) is needed to write StudioGAN's HDF5 files")
    if layout == "NCHW":  # BigGAN-PyTorch's make_hdf5.py
        images = images.transpose(0, 3, 1, 2)
    n = len(images)
    for i in range(0, n, batch):
        x, y = images[i:i + batch], np.asarray(labels[i:i + batch], np.int64)
        if i == 0:
            with h5py.File(path, "w") as f:
                f.create_dataset("imgs", x.shape, dtype="uint8", maxshape=(n, *x.shape[1:]),
                                 chunks=(batch, *x.shape[1:]), compression=False)[...] = x
                f.create_dataset("labels", y.shape, dtype="int64", maxshape=(n,), chunks=(batch,),
                                 compression=False)[...] = y
        else:
            with h5py.File(path, "a") as f:
                f["imgs"].resize(f["imgs"].shape[0] + x.shape[0], axis=0)
                f["imgs"][-x.shape[0]:] = x
                f["labels"].resize(f["labels"].shape[0] + y.shape[0], axis=0)
                f["labels"][-y.shape[0]:] = y
    return path


def test_studiogan_hdf5_labels_equal_the_official_readers_and_it_trains(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py (the hdf5 extra) is needed for StudioGAN's HDF5 files")
    images = _arrays(20)
    labels = np.random.default_rng(4).integers(0, 7, 20)
    path = _make_hdf5(tmp_path / "CUB200_16_lanczos_train.hdf5", images, labels)
    with h5py.File(path, "r") as f:  # StudioGAN's Dataset_: img, label = f["imgs"][i], int(f["labels"][i])
        official = [(f["imgs"][i], int(f["labels"][i])) for i in range(f["imgs"].shape[0])]
    data = load_images(path)
    assert data.labels.tolist() == [label for _, label in official]
    assert np.array_equal(data.images, np.stack([img for img, _ in official]))
    streamed = load_images(path, max_resident_bytes=0)
    assert streamed.images is None and streamed.reader is not None
    a = make_loader(data, 4, "cpu", seed=5, hflip=True)
    b = make_loader(streamed, 4, "cpu", seed=5, hflip=True, num_workers=2)
    _same_batches(a, b)
    b.close()
    from condgan.training import load_checkpoint
    ckpt = _train(path, tmp_path / "run", {"train.batch_size": 4})
    assert load_checkpoint(ckpt)["data"]["num_classes"] == int(labels.max()) + 1
    nchw = load_images(_make_hdf5(tmp_path / "I16.hdf5", images, labels, layout="NCHW"))
    assert np.array_equal(nchw.images, images) and nchw.labels.tolist() == labels.tolist()
    from condgan.data.prepare import prepare  # and condgan prepare reads it as it is (16 px: no resampling)
    prepare(path, tmp_path / "store", 16, workers=0, progress=False, log=lambda s: None)
    store = load_images(tmp_path / "store")
    assert np.array_equal(store.images, images) and store.labels.tolist() == labels.tolist()


def test_studiogan_hdf5_bad_datasets_are_named(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py (the hdf5 extra) is needed for StudioGAN's HDF5 files")
    cases = {
        "nolabels": ({"imgs": _arrays(2)}, r"has no dataset 'labels'"),
        "float": ({"imgs": _arrays(2).astype(np.float32), "labels": np.zeros(2, np.int64)},
                  r"dataset 'imgs' is float32, expected uint8"),
        "flabels": ({"imgs": _arrays(2), "labels": np.zeros(2, np.float64)}, r"dataset 'labels' is float64"),
        "negative": ({"imgs": _arrays(3), "labels": np.array([0, -2, 1])}, r"labels\[1\] is -2"),
        "count": ({"imgs": _arrays(3), "labels": np.zeros(2, np.int64)}, r"'labels' has shape \(2,\)"),
    }
    for name, (datasets, culprit) in cases.items():
        path = tmp_path / f"{name}.hdf5"
        with h5py.File(path, "w") as f:
            for key, value in datasets.items():
                f[key] = value
        with pytest.raises(DataError, match=culprit):
            load_images(path)


def test_hdf5_without_h5py_says_what_to_install(tmp_path, monkeypatch):
    import sys
    (tmp_path / "x.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed: import h5py raises ImportError
    with pytest.raises(DataError, match=r"needs h5py, which is not installed: pip install h5py"):
        load_images(tmp_path / "x.hdf5")
