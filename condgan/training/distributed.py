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

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over processes of a float tensor (logged statistics)."""
        if not self.enabled or self.world_size == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    @property
    def device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def setup(device: str) -> Distributed:
    """Join the process group torchrun describes in the environment (NCCL on CUDA, gloo on CPU)."""
    if "WORLD_SIZE" not in os.environ:
        return Distributed()
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(minutes=30))
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
