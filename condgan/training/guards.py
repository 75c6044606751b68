"""What stops a run cleanly: a SIGTERM/SIGINT (pre-emption, Ctrl-C), a loss/weight that went non-finite, or
processes of one distributed run that disagree on what they train (config, data, resumed step).

The first two are noticed without host syncs inside the step: signals only set a flag, and finiteness is
folded into a device tensor every step and read at the loop's existing sync points (log, grid, checkpoint).
The agreement is checked once, before the first step, so that a mismatch fails fast.
"""
from __future__ import annotations

import signal
import threading

from typing import Any

import torch
from torch import nn

from ..errors import CondganError


class TrainingInterrupted(Exception):
    """Raised after a signal-triggered checkpoint has been written; carries the message for the user."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class DivergenceError(RuntimeError):
    pass


class ProcessMismatchError(CondganError):
    """Processes of one distributed run would train different things (another override, other data, another
    checkpoint): every process refuses before the first step."""


class StopSignals:
    """Within the `with` block, SIGTERM and SIGINT only set `requested`; the loop then checkpoints and stops.

    A second SIGINT falls through to the previous handler (so a double Ctrl-C still kills). A second SIGTERM
    changes nothing: under a scheduler a worker gets several (SLURM signals every process of the step and
    torchrun forwards its own), and each asks for the same checkpoint.
    """

    def __init__(self):
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame):  # noqa: ANN001
        if self.requested is not None and signum == signal.SIGTERM:
            return
        if self.requested is not None:
            prev = self._previous.get(signum)
            if callable(prev):
                prev(signum, frame)
            raise KeyboardInterrupt
        self.requested = signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()


class DivergenceMonitor:
    """Remembers the first step whose statistics were non-finite, and which were, without syncing.

    Steps are counted as completed G updates (the step that produced the value).
    """

    def __init__(self):
        self.keys: list[str] | None = None
        self.first_bad: torch.Tensor | None = None
        self.bad: torch.Tensor | None = None

    def watch(self, stats: dict[str, torch.Tensor], step: int) -> None:
        if self.keys is None or list(stats) != self.keys:
            self.check_stats()  # the set of statistics changed: settle what we have first
            self.keys = list(stats)
            vec = next(iter(stats.values()))
            self.first_bad = torch.full((), -1, dtype=torch.long, device=vec.device)
            self.bad = torch.zeros(len(stats), dtype=torch.bool, device=vec.device)
        finite = torch.stack([v.float() for v in stats.values()]).isfinite()
        newly = (~finite).any() & (self.first_bad < 0)
        self.first_bad = torch.where(newly, step, self.first_bad)
        self.bad = torch.where(newly, ~finite, self.bad)  # what was non-finite at that first step

    def check_stats(self) -> None:
        """Raise DivergenceError naming the first non-finite statistic and its step (one host sync)."""
        if self.first_bad is None:
            return
        first = int(self.first_bad)
        if first >= 0:
            names = [k for k, b in zip(self.keys, self.bad.tolist()) if b]
            raise DivergenceError(f"non-finite {', '.join(names)} first at step {first}")

    def reset(self) -> None:
        self.keys = self.first_bad = self.bad = None


def check_parameters(networks: dict[str, nn.Module]) -> None:
    """Raise DivergenceError naming the first parameter holding NaN/Inf (one host sync for all of them)."""
    named = [(f"{net}.{n}", p.detach()) for net, m in networks.items() for n, p in m.named_parameters()]
    norms = torch._foreach_norm([p.float() for _, p in named])
    finite = torch.stack(norms).isfinite().tolist()
    for (name, _), ok in zip(named, finite):
        if not ok:
            raise DivergenceError(f"non-finite values in parameter {name}")


def check_processes_agree(dist, what: str, values: dict[str, Any], fix: str, where: str = "") -> None:
    """Compare `values` (key -> value) across the processes of `dist` (the run's `Distributed`): every process
    raises the same ProcessMismatchError, naming the first process and the keys where it differs from process
    0 and where each stands (`where`, e.g. the checkpoint it read). One process always agrees with itself."""
    (first, first_where), *others = dist.gather((values, where))
    for rank, (other, other_where) in enumerate(others, 1):
        keys = [k for k in sorted(first.keys() | other.keys()) if first.get(k) != other.get(k)]
        if keys:
            raise ProcessMismatchError(f"Processes disagree on the {what}: process {rank} has "
                                       f"{_shown(other, keys, other_where)}, process 0 has "
                                       f"{_shown(first, keys, first_where)}. {fix}")


def _shown(values: dict[str, Any], keys: list[str], where: str) -> str:
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(f"{k}={values.get(k)!r}" for k in keys[:3]) + more + (f" ({where})" if where else "")
