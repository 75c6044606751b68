"""Multi-process training on PyTorch's own engine: `torchrun` starts the processes, `torch.distributed` joins
them, DistributedDataParallel averages the gradients. Nothing here is home-made communication.

Under torchrun (the environment has WORLD_SIZE) every process builds the same networks from the same seed and
draws the same global batch of latents and data indices, then keeps its own slice of it: so N processes at a
global batch B compute the same update as one process at batch B (up to the order of floating-point sums).
Without torchrun everything here is a no-op and the single-process path is unchanged.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import warnings

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False  # launched by torchrun (even with one process: the DDP code path)

    @property
    def is_main(self) -> bool:
        """Only the main process writes files: config, logs, grids, checkpoints, reports."""
        return self.rank == 0

    def local(self, global_batch: int) -> slice:
        """This process's rows of a global batch."""
        n = global_batch // self.world_size
        return slice(self.rank * n, (self.rank + 1) * n)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every process when it is True on any (e.g. a stop signal that reached only some)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, value: object) -> list:
        """Every process's `value` (any picklable object), in rank order, on every process."""
        if not self.enabled:
            return [value]
        everyone: list = [None] * self.world_size
        dist.all_gather_object(everyone, value)
        return everyone

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over processes of a float tensor (logged statistics)."""
        if not self.enabled or self.world_size == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    @property
    def device(self) -> torch.device:
        """Where `any` builds its flag: the CPU wherever gloo carries CPU tensors (see `setup`)."""
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


class LaggedAny:
    """`Distributed.any` that never waits in the hot loop, for the stop request: each call starts this step's
    vote and returns the previous step's result, so every process learns of a flag raised anywhere one step
    later, and all at the same step. The vote is a one-float CPU tensor, which gloo carries even on GPUs (see
    `setup`), so it never waits on a CUDA stream. Voting every step keeps the time from a SIGTERM to its
    checkpoint one step long, well inside torchrun's --shutdown-timeout (30 s by default)."""

    def __init__(self, d: Distributed):
        self.enabled = d.enabled and d.world_size > 1
        self.pending: tuple[object, torch.Tensor] | None = None

    def __call__(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        previous = self.result()
        vote = torch.tensor([1.0 if flag else 0.0])
        self.pending = (dist.all_reduce(vote, op=dist.ReduceOp.MAX, async_op=True), vote)
        return previous

    def result(self) -> bool:
        """Wait for the vote in flight (if any) and return it; call once more after the loop."""
        if self.pending is None:
            return False
        work, vote = self.pending
        self.pending = None
        work.wait()
        return bool(vote.item())


def setup(device: str) -> Distributed:
    """Join the process group torchrun describes in the environment: gloo on CPUs; on GPUs NCCL for CUDA
    tensors and gloo for CPU ones (the stop vote, object exchanges), both in the one default group, so that
    a restarted group has nothing more to connect than torch's own default group."""
    if "WORLD_SIZE" not in os.environ:
        return Distributed()
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and \
            int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", 0)) > 0:
        warnings.warn("torchrun shares its rendezvous store with the workers here, and a restarted group can read "
                      "the previous attempt's addresses from it and fail to connect (pytorch/pytorch#135712, seen "
                      "with torch 2.13): export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 before torchrun so that "
                      "--max-restarts restarts reliably.", stacklevel=2)
    if not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if use_cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return Distributed(rank, world, local, enabled=True)


def teardown(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


class _GatherRows(torch.autograd.Function):
    """All-gather whose backward sums every process's gradient for this process's rows (all-reduce, then
    this process's slice): the losses of all processes reach the rows they used. A backward that kept only
    the local slice (StudioGAN's) would scale the gradient by 1/W under DDP (scripts/compare_ddp_d2dce.py)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's rows, keeping the autograd graph: gradients flow back to the process that
    produced each row. Used where a loss compares samples across the global batch (ReACGAN's D2D-CE
    negatives). Every process must pass the same number of rows."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    if not x.requires_grad:  # labels, or anything without a graph
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)
    return _GatherRows.apply(x)
