"""Run-folder logging: JSONL (always), TensorBoard (when installed), and a console progress bar.

Statistics arrive as device tensors every step and are only moved to the host at log boundaries, so the
hot loop never waits for the GPU.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from ..io import atomic_write


class RunLogger:
    """`write=False` (every process but the main one of a distributed run): statistics are still averaged
    (a collective all processes must join), but nothing is written."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, progress: bool = True,
                 write: bool = True):
        self.run_dir = Path(run_dir)
        self.jsonl = self.tb = None
        if write:
            self._drop_rows_after(start_step)
            self.jsonl = open(self.run_dir / "stats.jsonl", "a", buffering=1)
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:  # tensorboard is a dependency, but logging must not be what stops a run
                self.tb = None
        tty = sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not progress, dynamic_ncols=True,
                        unit="step", mininterval=0.5 if tty else 30.0)
        self.pending: dict[str, list[torch.Tensor]] = {}
        self.t0, self.step0 = time.perf_counter(), start_step

    def _drop_rows_after(self, step: int) -> None:
        """On resume, forget rows logged after the checkpoint (and a line cut short by a crash), so curves
        are not drawn twice."""
        path = self.run_dir / "stats.jsonl"
        if not path.exists():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        atomic_write(path, lambda f: f.write("".join(f"{line}\n" for line in keep)), text=True)

    def accumulate(self, stats: dict[str, torch.Tensor]) -> None:
        for k, v in stats.items():
            self.pending.setdefault(k, []).append(v)

    def flush(self, step: int, images_per_step: int, extra: dict[str, float] | None = None,
              reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> dict[str, float]:
        """Average what accumulated since the last flush (one host sync), write it everywhere. `reduce`
        averages the means over the processes of a distributed run."""
        keys = list(self.pending)
        means = reduce(torch.stack([torch.stack(self.pending[k]).float().mean() for k in keys])).tolist() \
            if keys else []
        self.pending.clear()
        now = time.perf_counter()
        steps = max(step - self.step0, 1)
        row = {"step": step, **dict(zip(keys, means)),
               "sec_per_step": (now - self.t0) / steps,
               "images_per_sec": steps * images_per_step / max(now - self.t0, 1e-9)}
        row.update(extra or {})
        self.t0, self.step0 = now, step
        self.write(row)
        self.bar.set_postfix({k.replace("/loss", ""): f"{v:.3f}" for k, v in row.items() if k.endswith("loss")}
                             | {"img/s": f"{row['images_per_sec']:.0f}"}, refresh=False)
        return row

    def write(self, row: dict[str, float]) -> None:
        if self.jsonl is None:
            return
        self.jsonl.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])

    def image(self, tag: str, image, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
