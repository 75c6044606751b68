"""Endless, seeded, resumable batches of (image, label) on the training device.

Three loaders keep one contract. `ResidentLoader` holds the whole data set on the device, so a step
costs no host work; `MappedLoader` gathers each batch's rows from a memory-mapped prepared store (no
decoding), for stores larger than `data.max_resident_bytes`; `StreamingLoader` decodes files in DataLoader
workers, for raw data too large for memory. All draw each epoch from a permutation made by their own
generator, so code that uses the global RNG never shifts the data order, and all resume exactly from
`state_dict()`.
"""

from __future__ import annotations

import mmap
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .errors import DataError
from .folder import read_image
from .images import LabelledImages


def make_loader(data: LabelledImages, batch_size: int, device: torch.device | str, *, hflip: bool = False,
                seed: int = 0, resident: str = "auto", num_workers: int = 4, rank: int = 0,
                world_size: int = 1) -> ResidentLoader | MappedLoader | StreamingLoader:
    """The right loader for `data`: resident when it is in memory ('auto'), or as forced by 'yes' / 'no';
    otherwise mapped for a memory-mapped store, streaming for files.

    Whether data fits in memory is decided once, by `load_images(max_resident_bytes=...)`
    (`data.max_resident_bytes`). With
    `world_size` > 1, `batch_size` is the global batch and each process gets its `rank`'s slice of it.
    """
    shard = dict(rank=rank, world_size=world_size)
    if resident not in ("auto", "yes", "no"):
        raise DataError(f"resident={resident!r} is not supported; use 'auto', 'yes' or 'no'")
    if resident == "yes" and data.images is None:
        raise DataError(f"resident='yes' but {data.source} was left on disk ({data.nbytes / 2**30:.2f} GiB decoded, "
                        f"more than max_resident_bytes); raise data.max_resident_bytes (bytes) or use "
                        f"data.resident=auto")
    mapped = isinstance(data.images, np.memmap)
    if resident == "yes" or (resident == "auto" and data.images is not None and not mapped):
        return ResidentLoader(data, batch_size, device, hflip=hflip, seed=seed, **shard)
    if mapped:
        return MappedLoader(data, batch_size, device, hflip=hflip, seed=seed, **shard)
    return StreamingLoader(data, batch_size, device, hflip=hflip, seed=seed, num_workers=num_workers, **shard)


class _EpochLoader:
    """What both loaders share: epoch bookkeeping, the private generators, flips and state.

    Every process of a distributed run draws the same permutation and flips for the global batch and keeps
    its own rows (`rank`-th of `world_size` equal slices): each epoch is partitioned across processes, and
    the union of the slices is exactly the batch one process would have drawn.
    """

    kind = ""

    def __init__(self, data: LabelledImages, batch_size: int, device: torch.device | str, *, hflip: bool,
                 seed: int, perm_device: torch.device | str | None = None, rank: int = 0, world_size: int = 1):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DataError(f"batch_size={batch_size!r} must be a positive integer")
        if batch_size > len(data):
            raise DataError(f"batch_size={batch_size} is larger than {data.source}, which has {len(data)} images; "
                            f"use batch_size <= {len(data)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataError(f"seed={seed!r} must be a non-negative integer")
        if batch_size % world_size:
            raise DataError(f"batch_size={batch_size} must divide evenly among {world_size} processes")
        self.num_images, self.batch_size, self.hflip = len(data), int(batch_size), bool(hflip)
        self.local_batch = self.batch_size // world_size
        self.rows = slice(rank * self.local_batch, (rank + 1) * self.local_batch)
        self.device = torch.device(device)
        self.batches_per_epoch = len(data) // self.batch_size  # an incomplete last batch is dropped
        perm_seed, flip_seed = (int(s) for s in np.random.SeedSequence(int(seed)).generate_state(2, np.uint64))
        self._perm_gen = torch.Generator(perm_device or self.device).manual_seed(perm_seed)
        self._flip_gen = torch.Generator(self.device).manual_seed(flip_seed)  # on the device: flips never sync
        self.epoch, self.batch = 0, 0  # current epoch, batches already taken from it
        self._new_permutation()

    def _new_permutation(self) -> None:
        self._perm_state = self._perm_gen.get_state()  # enough to rebuild this epoch's order on resume
        self._perm = torch.randperm(self.num_images, generator=self._perm_gen, device=self._perm_gen.device)

    def _indices(self, i: int) -> torch.Tensor:
        """This process's rows of global batch i of the current permutation."""
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size][self.rows]

    def _fetch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's rows of batch i: uint8 NCHW images and int64 labels on the device."""
        raise NotImplementedError

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (local) batch: float32 NCHW images in [-1, 1] and int64 labels, both on the device."""
        if self.batch == self.batches_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
            self._new_permutation()
        x, y = self._fetch(self.batch)
        self.batch += 1
        if self.hflip:
            flip = (torch.rand(self.batch_size, generator=self._flip_gen, device=self.device) < 0.5)[self.rows]
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x.float().div_(127.5).sub_(1), y  # in place: bit-equal to x.float() / 127.5 - 1, half the time

    def state_dict(self) -> dict:
        """Plain tensors and numbers only, so it loads with torch.load(weights_only=True)."""
        return dict(kind=self.kind, num_images=self.num_images, batch_size=self.batch_size,
                    device_type=self.device.type, epoch=self.epoch, batch=self.batch,
                    perm_rng=self._perm_state.clone(), flip_rng=self._flip_gen.get_state())

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where the loader that saved `state` left off."""
        mine = dict(kind=self.kind, num_images=self.num_images, batch_size=self.batch_size,
                    device_type=self.device.type)
        for key, value in mine.items():
            if state.get(key) != value:
                raise DataError(f"loader state has {key}={state.get(key)!r} but this loader has {key}={value!r}; "
                                f"resume with the same data, batch size, resident setting and device type")
        if not 0 <= state["batch"] <= self.batches_per_epoch:
            raise DataError(f"loader state has batch={state['batch']}, outside 0..{self.batches_per_epoch}")
        self._perm_gen.set_state(state["perm_rng"].cpu())
        self._new_permutation()
        self._flip_gen.set_state(state["flip_rng"].cpu())
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])

    def close(self) -> None:
        """Release worker processes, if any; the loader stays usable and restarts them on demand."""


class ResidentLoader(_EpochLoader):
    """All images on the device as uint8; gather, flips and conversion happen there, without host syncs."""

    kind = "resident"

    def __init__(self, data: LabelledImages, batch_size: int, device: torch.device | str, *, hflip: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        if data.images is None:
            raise DataError(f"{data.source} is on disk, not in memory; use StreamingLoader or load it with a "
                            f"larger data.max_resident_bytes")
        super().__init__(data, batch_size, device, hflip=hflip, seed=seed, rank=rank, world_size=world_size)
        n, h, w, c = data.images.shape
        self._images = torch.empty((n, c, h, w), dtype=torch.uint8, device=self.device)
        for i in range(0, n, 4096):  # chunked, so the device never holds two copies
            self._images[i:i + 4096] = torch.from_numpy(data.images[i:i + 4096]).to(self.device).permute(0, 3, 1, 2)
        self._labels = torch.from_numpy(data.labels).to(self.device)

    def _fetch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._indices(i)
        return self._images.index_select(0, idx), self._labels.index_select(0, idx)


class MappedLoader(_EpochLoader):
    """Gathers this process's rows of each batch from a memory-mapped store (sorted, for locality) in a
    background thread, one batch ahead, straight into pinned memory when the device is a GPU; the rows of the
    other processes' shards are never read. No decoding: the store holds the pixels. Before a gather, the
    kernel is told which rows come next (madvise WILLNEED), so rows not in the page cache are read from disk
    all at once rather than one page fault at a time."""

    kind = "mapped"

    def __init__(self, data: LabelledImages, batch_size: int, device: torch.device | str, *, hflip: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        if not isinstance(data.images, np.memmap):
            raise DataError(f"{data.source} is not a memory-mapped store; MappedLoader reads `condgan prepare` stores")
        self._ahead: tuple[tuple[int, int], Future] | None = None
        self._pool: ThreadPoolExecutor | None = None
        super().__init__(data, batch_size, device, hflip=hflip, seed=seed, perm_device="cpu", rank=rank,
                         world_size=world_size)
        self._images = data.images
        self._labels = torch.from_numpy(np.ascontiguousarray(data.labels))
        self._row_bytes = int(np.prod(data.images.shape[1:]))
        self._advice: mmap.mmap | None = None  # a second map of the file, only to give the kernel hints

    def _new_permutation(self) -> None:
        super()._new_permutation()
        self._ahead = None

    def _read_rows(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Copy store rows `rows` (sorted) into `out`: the only place the store's pixels are read."""
        self._will_need(rows)
        np.take(self._images, rows, axis=0, out=out, mode="clip")  # rows are valid; 'clip' avoids a buffer

    def _will_need(self, rows: np.ndarray) -> None:
        """Start reading `rows` from disk in parallel (a no-op for cached pages, or where madvise is missing)."""
        if not hasattr(mmap, "MADV_WILLNEED") or self._images.offset or not self._images.filename:
            return
        if self._advice is None:
            with open(self._images.filename, "rb") as f:
                self._advice = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        page = mmap.PAGESIZE
        for r in rows.tolist():
            start = r * self._row_bytes
            first = start - start % page
            self._advice.madvise(mmap.MADV_WILLNEED, first, start + self._row_bytes - first)

    def _gather(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 NHWC rows of `idx` in ascending row order, on the host and pinned for a GPU; the order)."""
        order = torch.argsort(idx)
        out = torch.empty((len(idx), *self._images.shape[1:]), dtype=torch.uint8,
                          pin_memory=self.device.type == "cuda")
        self._read_rows(idx[order].numpy(), out.numpy())
        return out, order

    def _fetch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._indices(i)
        key = (self.epoch, i)
        if self._ahead is not None and self._ahead[0] == key:
            x, order = self._ahead[1].result()
        else:
            x, order = self._gather(idx)
        self._ahead = None
        if i + 1 < self.batches_per_epoch:  # read the next batch while this one trains
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="condgan-mapped")
            self._ahead = ((self.epoch, i + 1), self._pool.submit(self._gather, self._indices(i + 1)))
        # copy the sorted rows, then restore the batch order on the device
        x = x.to(self.device, non_blocking=True)[torch.argsort(order).to(self.device, non_blocking=True)]
        x = x.permute(0, 3, 1, 2).contiguous()
        return x, self._labels[idx].to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the read-ahead thread; the next call to next() starts it again, at the same batch."""
        self._ahead = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class StreamingLoader(_EpochLoader):
    """Decodes images in DataLoader workers, one item at a time; for data too large to keep resident."""

    kind = "streaming"

    def __init__(self, data: LabelledImages, batch_size: int, device: torch.device | str, *, hflip: bool = False,
                 seed: int = 0, num_workers: int = 4, rank: int = 0, world_size: int = 1):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise DataError(f"num_workers={num_workers!r} must be a non-negative integer")
        self._sampler = _Indices()
        self._iter = None
        super().__init__(data, batch_size, device, hflip=hflip, seed=seed, perm_device="cpu", rank=rank,
                         world_size=world_size)
        self._loader = DataLoader(
            _Decoded(data), batch_size=self.local_batch, sampler=self._sampler, drop_last=True,
            num_workers=num_workers, pin_memory=self.device.type == "cuda", persistent_workers=num_workers > 0,
            generator=torch.Generator().manual_seed(0))  # else DataLoader draws its worker seed from the global RNG

    def _new_permutation(self) -> None:
        super()._new_permutation()
        self._iter = None

    def _fetch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iter is None:  # new epoch or resumed: skip taken batches by slicing, without decoding them
            self._sampler.indices = torch.cat([self._indices(j) for j in range(i, self.batches_per_epoch)]).tolist()
            self._iter = iter(self._loader)
        try:
            x, y = next(self._iter)
        except BaseException:
            # The traceback keeps the iterator alive; left to the garbage collector, its workers would be shut
            # down at a random moment (even inside another loader's threads), which can crash the process.
            self.close()
            raise
        x = x.to(self.device, non_blocking=True).permute(0, 3, 1, 2).contiguous()
        return x, y.to(self.device, non_blocking=True)


    def close(self) -> None:
        """Stop the worker processes now rather than whenever garbage collection gets to them.

        The next call to next() starts them again, at the same batch.
        """
        it, self._iter, self._loader._iterator = self._loader._iterator, None, None
        if it is not None:
            it._shutdown_workers()  # private, but the only deterministic way to stop persistent workers


class _Indices(Sampler[int]):
    """The sample order of the current epoch, replaced by the loader at each epoch or resume."""

    def __init__(self) -> None:
        self.indices: list[int] = []

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class _Decoded(Dataset):
    """Item i as (uint8 HxWxC tensor, label): a row of the in-memory array or a freshly decoded file."""

    def __init__(self, data: LabelledImages):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        d = self.data
        if d.images is not None:
            image = d.images[i]
        else:
            image = d.reader(i) if d.reader is not None else read_image(d.files[i], d.shape)
        return torch.from_numpy(np.ascontiguousarray(image)), int(d.labels[i])
