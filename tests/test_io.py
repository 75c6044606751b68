"""condgan.io: the one atomic writer and the one checkpoint reader."""
import os

import pytest
import torch

from condgan.errors import CondganError
from condgan.io import CheckpointError, atomic_write, read_checkpoint, write_checkpoint


def test_atomic_write_replaces_whole_files_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write(path, lambda f: f.write("one"), text=True)
    assert path.read_text() == "one"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # as open() would have made it, not mkstemp's 0600

    def fails(f):
        f.write(b"half of the new con")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, fails)
    assert path.read_text() == "one" and os.listdir(path.parent) == ["f.txt"]  # old file intact, no temp left


def test_read_checkpoint_names_the_file_for_every_failure(tmp_path):
    good = tmp_path / "good.pt"
    write_checkpoint({"w": torch.ones(2)}, good)
    assert torch.equal(read_checkpoint(good)["w"], torch.ones(2))
    assert torch.equal(read_checkpoint(good, mmap=True)["w"], torch.ones(2))
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": torch.ones(2)}, foreign)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    for path, words in [(tmp_path / "missing.pt", "does not exist"), (foreign, "not a condgan checkpoint"),
                        (truncated, "cannot be read")]:
        with pytest.raises(CheckpointError, match=words) as e:
            read_checkpoint(path)
        assert path.name in str(e.value) and isinstance(e.value, CondganError) and "\n" not in str(e.value)
