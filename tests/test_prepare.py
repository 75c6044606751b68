"""`condgan prepare` and training from its store: raw folders of any size and mode, the official tools' geometry,
determinism, interruption and resume, unreadable files, memory-mapped training with exact resume, and
per-process shards under torchrun.

Run as a script under torchrun (`--shard-reads STORE OUT`), this file is also the per-process side of the
shard test: each process records the store rows its loader reads."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data import DataError, from_config, load_images, make_loader
from condgan.data.loader import MappedLoader, ResidentLoader
from condgan.data.prepare import prepare

MODES = ["RGB", "L", "CMYK", "P", "RGBA", "LA", "1", "I;16"]


def _mixed_folder(root: Path, per_class=5, classes=("bird", "cat", "dog"), seed=0) -> Path:
    """Class folders of images of different sizes and every common mode, as JPEG and PNG, one per sub-folder."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        for i in range(per_class):
            h, w = (int(v) for v in rng.integers(9, 70, 2))
            mode = MODES[(i + k) % len(MODES)]
            im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
            ext = ".jpg" if mode == "CMYK" or mode in ("RGB", "L") and i % 2 == 0 else ".png"
            folder = root / name / ("more" if i == per_class - 1 else "")  # ImageFolder searches recursively
            folder.mkdir(parents=True, exist_ok=True)
            im.save(folder / f"{i:03d}{ext}")
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _train(source, steps=2, extra=None, outdir=None, preset="digits"):
    from conftest import tiny

    import condgan
    from condgan.config import load_config
    overrides = tiny({"data.source": str(source), "train.steps": steps, "train.ckpt_every": steps,
                      "train.grid_every": steps, "train.standing_stats": 1, **(extra or {})})
    cfg = load_config(preset, overrides)
    return condgan.train(cfg, outdir, progress=False)


def test_mixed_folder_prepares_to_a_store_that_trains_with_the_preset_shape(tmp_path):
    raw = _mixed_folder(tmp_path / "raw")
    store = tmp_path / "store"
    meta = prepare(raw, store, 64, workers=2, progress=False, log=lambda s: None)
    assert meta["shape"] == [15, 64, 64, 3] and meta["class_names"] == ["bird", "cat", "dog"]
    assert meta["source"]["files"] == 15 and len(meta["source"]["content_sha256"]) == 64 and not meta["skipped"]
    data = load_images(store)
    assert data.shape == (64, 64, 3) and data.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert not isinstance(data.images, np.memmap)  # it fits in data.max_resident_bytes: held in memory
    # tiny-imagenet-reacgan trains at 64 px, 3 channels (ReACGAN head, D2D-CE): the store's shape
    from condgan.training import load_checkpoint
    ckpt = _train(store, extra={"data.num_classes": 3, "data.resolution": None, "D.embed_dim": 8, "G.z_dim": 10},
                  outdir=tmp_path / "run", preset="tiny-imagenet-reacgan")
    got = load_checkpoint(ckpt)["data"]
    assert (got["resolution"], got["channels"], got["num_classes"]) == (64, 3, 3)


def test_preparing_twice_gives_byte_equal_stores_whatever_the_workers(tmp_path):
    raw = _mixed_folder(tmp_path / "raw", per_class=4)
    a = prepare(raw, tmp_path / "a", 24, workers=0, progress=False, log=lambda s: None)
    b = prepare(raw, tmp_path / "b", 24, workers=2, progress=False, log=lambda s: None)
    assert a == b
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert set(_files(tmp_path / "a")) == {"images.u8", "labels.npy", "store.json"}
    c = prepare(raw, tmp_path / "c", 24, crop="none", workers=0, progress=False, log=lambda s: None)
    assert (tmp_path / "c" / "images.u8").read_bytes() != (tmp_path / "a" / "images.u8").read_bytes()
    assert c["settings"]["crop"] == "none"


def test_modes_are_converted_as_the_official_tools_do(tmp_path):
    """Every mode becomes what StyleGAN3's dataset_tool.py and torchvision's ImageFolder give: PIL
    convert('RGB') (alpha dropped, CMYK and palettes converted); an image at the training size is not resampled."""
    rng = np.random.default_rng(1)
    files = []
    for i, mode in enumerate(MODES):
        path = tmp_path / "raw" / "c" / f"{i}_{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).convert(mode).save(path)
        files.append(path)
    prepare(tmp_path / "raw", tmp_path / "s", 12, crop="none", workers=0, progress=False, log=lambda s: None)
    got = load_images(tmp_path / "s").images
    for path, row in zip(sorted(files), got, strict=True):
        with Image.open(path) as im:
            assert np.array_equal(row, np.asarray(im.convert("RGB"))), path.name
    prepare(tmp_path / "raw", tmp_path / "g", 12, crop="none", channels=1, workers=0, progress=False,
            log=lambda s: None)
    grey = load_images(tmp_path / "g")
    assert grey.shape == (12, 12, 1)
    with Image.open(sorted(files)[0]) as im:
        assert np.array_equal(grey.images[0, ..., 0], np.asarray(im.convert("L")))


def test_crops_follow_the_tool_they_name(tmp_path):
    """13x20 (HxW): dataset_tool's center crop starts at (20 - 13) // 2 = 3, StudioGAN's CenterCropLongEdge
    (torchvision center_crop) at round(3.5) = 4; `none` resizes the whole image. Lanczos unless told."""
    a = np.random.default_rng(2).integers(0, 256, (13, 20, 3), dtype=np.uint8)
    (tmp_path / "raw" / "c").mkdir(parents=True)
    Image.fromarray(a).save(tmp_path / "raw" / "c" / "x.png")
    im = Image.fromarray(a)
    expected = {
        ("center", "lanczos"): im.crop((3, 0, 16, 13)).resize((8, 8), Image.Resampling.LANCZOS),
        ("studiogan", "lanczos"): im.crop((4, 0, 17, 13)).resize((8, 8), Image.Resampling.LANCZOS),
        ("none", "lanczos"): im.resize((8, 8), Image.Resampling.LANCZOS),
        ("studiogan", "bicubic"): im.crop((4, 0, 17, 13)).resize((8, 8), Image.Resampling.BICUBIC),
    }
    rows = {}
    for (crop, filt), want in expected.items():
        out = tmp_path / f"{crop}-{filt}"
        prepare(tmp_path / "raw", out, 8, crop=crop, filter=filt, workers=0, progress=False, log=lambda s: None)
        rows[crop, filt] = load_images(out).images[0]
        assert np.array_equal(rows[crop, filt], np.asarray(want)), (crop, filt)
    assert not np.array_equal(rows["center", "lanczos"], rows["studiogan", "lanczos"])


def test_an_unreadable_file_stops_with_its_name_and_the_rerun_resumes(tmp_path, monkeypatch):
    import condgan.data.prepare as prep
    monkeypatch.setattr(prep, "CHUNK", 4)
    raw = _mixed_folder(tmp_path / "raw", per_class=6, classes=("a", "b"))
    reference = prepare(raw, tmp_path / "ref", 16, workers=0, progress=False, log=lambda s: None)
    bad = next((raw / "b").glob("002.*"))  # the 9th of 12 images: in the third chunk
    good = bad.read_bytes()
    bad.write_bytes(b"not an image")
    store = tmp_path / "store"
    with pytest.raises(DataError, match=r"cannot read image .*b/002\.(jpg|png): .*--skip-bad"):
        prepare(raw, store, 16, workers=0, progress=False, log=lambda s: None)
    with pytest.raises(DataError, match="unfinished store.*condgan prepare"):
        load_images(store)  # an interrupted prepare never reads as complete
    # The first two chunks (8 images) finished: the rerun must not decode them again, so breaking one of
    # them now goes unnoticed; the bad file, fixed, is read.
    first = next((raw / "a").glob("000.*"))
    kept = first.read_bytes()
    first.write_bytes(b"broken after it was prepared")
    bad.write_bytes(good)
    resumed = prepare(raw, store, 16, workers=2, progress=False, log=lambda s: None)
    first.write_bytes(kept)
    assert resumed == reference and _files(store) == _files(tmp_path / "ref")


def test_skip_bad_leaves_unreadable_files_out_and_lists_them(tmp_path, monkeypatch):
    raw = _mixed_folder(tmp_path / "raw", per_class=4, classes=("a", "b"))
    next((raw / "b").glob("001.*")).unlink()
    (raw / "b" / "001.png").write_bytes(b"\x89PNG truncated")
    said = []
    meta = prepare(raw, tmp_path / "s", 8, workers=0, skip_bad=True, progress=False, log=said.append)
    assert meta["shape"][0] == 7 and meta["source"]["files"] == 8
    assert [name for name, _ in meta["skipped"]] == ["b/001.png"]
    assert sum("skipped unreadable image" in line and "b/001.png" in line for line in said) == 1
    data = load_images(tmp_path / "s")
    assert data.labels.tolist() == [0, 0, 0, 0, 1, 1, 1]
    whole = {i: a for i, a in enumerate(data.images)}
    # A crash after the bad rows were cut out of images.u8, before store.json: the rerun finishes the same store.
    import condgan.io
    write = condgan.io.atomic_write

    def crash_at_labels(path, fn, **kw):
        if str(path).endswith("labels.npy"):
            raise KeyboardInterrupt
        return write(path, fn, **kw)
    monkeypatch.setattr(condgan.io, "atomic_write", crash_at_labels)
    with pytest.raises(KeyboardInterrupt):
        prepare(raw, tmp_path / "t", 8, workers=0, skip_bad=True, progress=False, log=lambda s: None)
    assert (tmp_path / "t" / "images.u8").stat().st_size == 7 * 8 * 8 * 3  # compacted, store.json missing
    monkeypatch.setattr(condgan.io, "atomic_write", write)
    assert prepare(raw, tmp_path / "t", 8, workers=0, skip_bad=True, progress=False, log=lambda s: None) == meta
    assert _files(tmp_path / "t") == _files(tmp_path / "s") and len(whole) == 7


def test_an_interrupted_prepare_is_unfinished_until_rerun(tmp_path, monkeypatch):
    import condgan.data.prepare as prep
    monkeypatch.setattr(prep, "CHUNK", 3)
    raw = _mixed_folder(tmp_path / "raw", per_class=4, classes=("a", "b"))
    reference = prepare(raw, tmp_path / "ref", 16, workers=0, progress=False, log=lambda s: None)
    work, calls = prep._work, []

    def interrupted(*args):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a crash) in the middle of the run
        return work(*args)
    monkeypatch.setattr(prep, "_work", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(raw, tmp_path / "s", 16, workers=0, progress=False, log=lambda s: None)
    assert not (tmp_path / "s" / "store.json").exists()
    with pytest.raises(DataError, match="unfinished"):
        load_images(tmp_path / "s")
    monkeypatch.setattr(prep, "_work", work)
    assert json.loads((tmp_path / "s" / "progress.json").read_text())["done"].keys() == {"0"}
    assert prepare(raw, tmp_path / "s", 16, workers=0, progress=False, log=lambda s: None) == reference
    assert _files(tmp_path / "s") == _files(tmp_path / "ref")


def test_prepare_refuses_to_overwrite(tmp_path):
    raw = _mixed_folder(tmp_path / "raw", per_class=2, classes=("a",))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a condgan store"):
        prepare(raw, tmp_path / "other", 8, workers=0, progress=False, log=lambda s: None)
    prepare(raw, tmp_path / "s", 8, workers=0, progress=False, log=lambda s: None)
    with pytest.raises(DataError, match="other input or settings.*--force"):
        prepare(raw, tmp_path / "s", 12, workers=0, progress=False, log=lambda s: None)
    assert prepare(raw, tmp_path / "s", 12, workers=0, force=True, progress=False, log=lambda s: None)["shape"][1] == 12


def test_prepare_reads_every_data_source(tmp_path):
    """An npz (like any data.source), resized on the way; the store keeps its labels and class names."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (10, 20, 20, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2, class_names=np.array(["p", "q"]))
    meta = prepare(tmp_path / "d.npz", tmp_path / "s", 10, workers=0, progress=False, log=lambda s: None)
    data = load_images(tmp_path / "s")
    assert meta["class_names"] == ["p", "q"] and data.labels.tolist() == [0, 1] * 5
    assert np.array_equal(data.images[3], np.asarray(Image.fromarray(x[3]).resize((10, 10), Image.Resampling.LANCZOS)))


def test_cli_prepare_errors_are_one_line(tmp_path):
    from condgan.cli import main
    raw = _mixed_folder(tmp_path / "raw", per_class=2, classes=("a",))
    (raw / "a" / "zz.png").write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "-m", "condgan", "prepare", str(raw), "--out", str(tmp_path / "s"),
                           "--resolution", "8", "--workers", "0", "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("condgan: error: cannot read image ")
    assert "zz.png" in proc.stderr
    assert main(["prepare", str(raw), "--out", str(tmp_path / "s"), "--resolution", "8", "--workers", "0",
                 "--skip-bad", "--no-progress"]) == 0


def test_the_input_pipeline_benchmark_runs_tiny(tmp_path):
    """The plumbing of `python -m benchmarks.input_pipeline` (--quick: a few hundred random images; its rates
    are not judged, only that every path ran and was set against the anchor step's consumption)."""
    out = tmp_path / "ip.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.input_pipeline", "--quick", "--work", str(tmp_path),
                           "--json", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = json.loads(out.read_text())["results"]
    paths = set(res["rates"]) | set(res["notes"])
    assert {"jpeg-streaming", "torchvision", "store-resident", "store-mapped"} <= paths
    assert all(v > 0 for v in res["rates"].values()) and res["need"]["images_per_s"] > 0
    assert "| 64 | store-mapped |" in proc.stdout and "what the step consumes" in proc.stdout


# ----------------------------------------------------------------------------------------------------------
# Training from the store: memory-mapped beyond data.max_resident_bytes, exact resume, shards


def _index_store(tmp_path, n=40, size=16):
    """A store whose image i is filled with the value i (so a batch names the rows it holds)."""
    x = np.repeat(np.arange(n, dtype=np.uint8), size * size * 3).reshape(n, size, size, 3)
    np.savez(tmp_path / "idx.npz", x=x, y=np.arange(n) % 4)
    prepare(tmp_path / "idx.npz", tmp_path / "store", size, workers=0, progress=False, log=lambda s: None)
    return tmp_path / "store"


def _rows(x):
    return ((x[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def test_a_store_larger_than_max_resident_bytes_is_memory_mapped_and_gives_the_same_batches(tmp_path):
    from condgan.config import load_config
    store = _index_store(tmp_path)
    cfg = load_config("digits", {"data.source": str(store), "data.resolution": None}).data
    resident = from_config(cfg)
    mapped = from_config(load_config("digits", {"data.source": str(store), "data.resolution": None,
                                                "data.max_resident_bytes": 1000}).data)
    assert isinstance(mapped.images, np.memmap) and not isinstance(resident.images, np.memmap)
    a = make_loader(resident, 8, "cpu", hflip=True, seed=4)
    b = make_loader(mapped, 8, "cpu", hflip=True, seed=4)
    assert isinstance(a, ResidentLoader) and isinstance(b, MappedLoader)
    ref = [a.next() for _ in range(12)]  # 2.4 epochs
    for xa, ya in ref[:7]:
        xb, yb = b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    state = b.state_dict()
    b.close()
    c = make_loader(mapped, 8, "cpu", hflip=True, seed=99)
    c.load_state_dict(state)
    for xa, ya in ref[7:]:
        xc, yc = c.next()
        assert torch.equal(xa, xc) and torch.equal(ya, yc)
        assert [v % 4 for v in _rows(xc)] == yc.tolist()
    c.close()
    with pytest.raises(DataError, match="condgan prepare .*--resolution 4"):
        from_config(load_config("digits", {"data.source": str(store), "data.resolution": 4,
                                           "data.max_resident_bytes": 1000}).data)


def _train_cmd(run, store, steps, *extra):
    overrides = {"data.source": str(store), "data.resolution": None, "data.max_resident_bytes": 1000,
                 "G.ch": 2, "D.ch": 2, "G.z_dim": 12, "G.shared_dim": 8, "G.attn_res": 8, "D.attn_res": 8,
                 "train.batch_size": 8, "train.d_steps": 2, "train.steps": steps, "train.log_every": 1,
                 "train.grid_every": 100000, "train.ckpt_every": 1, "train.standing_stats": 1,
                 "train.keep_ckpts": 100, "train.threads": 1, "data.hflip": True}
    return [sys.executable, "-m", "condgan", "train", "--outdir", str(run), "--resume", "--no-progress",
            *[f"{k}={v}" for k, v in overrides.items()], *extra]


@pytest.mark.slow  # three training processes
def test_memory_mapped_training_resumes_after_a_kill_with_the_same_batches(tmp_path):
    from condgan.training import load_checkpoint
    store = _index_store(tmp_path, n=44)
    whole = subprocess.run(_train_cmd(tmp_path / "whole", store, 8), capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(run, store, 100000), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "checkpoint-0000003.pt").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    resumed = subprocess.run(_train_cmd(run, store, 8), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from" in resumed.stdout
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "checkpoint-0000008.pt")
    b = load_checkpoint(run / "checkpoints" / "checkpoint-0000008.pt")
    assert a["loader"]["kind"] == "mapped"
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)  # same batches, same flips: the same weights
    rows = lambda r: [json.loads(x) for x in (r / "stats.jsonl").read_text().splitlines()]  # noqa: E731
    assert [r["D/loss"] for r in rows(tmp_path / "whole")] == [r["D/loss"] for r in rows(run)]


@pytest.mark.slow  # a torchrun launch
def test_two_torchrun_processes_read_disjoint_shards_of_each_batch(tmp_path):
    store = _index_store(tmp_path, n=40)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
           "--shard-reads", str(store), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    one = make_loader(load_images(store, max_resident_bytes=0), 8, "cpu", seed=0)
    for b in range(7):  # across an epoch boundary (40 images, global batch 8)
        whole = _rows(one.next()[0])
        parts = [r["delivered"][b] for r in ranks]
        assert parts[0] + parts[1] == whole  # rank r holds the r-th half of the global batch
        for r in ranks:  # and read exactly those rows of the store, nothing of the other half
            assert r["reads"][b] == sorted(r["delivered"][b])
        assert not set(ranks[0]["reads"][b]) & set(ranks[1]["reads"][b])
    one.close()


def _shard_reads(store: str, out: str) -> None:
    """The torchrun side: this process's loader over the memory-mapped store, recording the rows it reads."""
    import torch.distributed as dist
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    loader = make_loader(load_images(store, max_resident_bytes=0), 8, "cpu", seed=0, rank=rank, world_size=world)
    reads, read_rows = [], loader._read_rows

    def recording(rows, buf):
        reads.append(rows.tolist())
        read_rows(rows, buf)
    loader._read_rows = recording
    delivered = [_rows(loader.next()[0]) for _ in range(7)]
    loader.close()
    Path(out, f"rank{rank}.json").write_text(json.dumps({"reads": reads[:7], "delivered": delivered}))
    dist.destroy_process_group()


if __name__ == "__main__" and sys.argv[1:2] == ["--shard-reads"]:
    _shard_reads(*sys.argv[2:4])
