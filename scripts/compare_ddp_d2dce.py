"""D2D-CE under DDP: condgan's gradient equals one process's on the global batch; StudioGAN's is 1/W of it.

StudioGAN's `Data2DataCrossEntropyLoss` (src/utils/losses.py), when run under DDP, gathers the embeddings,
proxies and labels of all W processes with a gather whose backward keeps only this process's slice of the
incoming gradient (no sum over processes), and every process computes the loss over the whole gathered
batch. DDP then averages the parameter gradients over the W processes, so each process contributes 1/W of
the full-batch gradient through its own rows only: the conditioning gradient is the single-process one
divided by W, while the adversarial loss's is not. condgan's anchors are local, its keys are gathered by
`condgan.training.distributed.gather_rows` (whose backward sums every process's gradient for its rows), and
DDP's average then gives exactly the single-process gradient (tests/test_distributed.py checks whole
training steps).

This script measures both on the CPU (gloo, W processes, a linear embedding and class proxies as the
parameters, StudioGAN's form of the loss) and prints each one's gradient as a multiple of the single-process
gradient. Consequence: a StudioGAN multi-GPU ReACGAN run weighs D2D-CE by cond_lambda / W; to match such a
run, set `loss.cond_lambda` to its value divided by the number of GPUs.

    python scripts/compare_ddp_d2dce.py [--world 2] [--batch 8]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from condgan.losses.conditional import d2d_ce

DIM_IN, DIM, CLASSES = 6, 4, 3
LOSS = {"temperature": 0.5, "m_p": 0.98, "form": "studiogan"}


def problem(batch: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, DIM_IN, generator=g)
    y = torch.arange(batch) % CLASSES
    weight = torch.randn(DIM_IN, DIM, generator=g)
    proxies = torch.randn(CLASSES, DIM, generator=g)
    return x, y, weight, proxies


def single(batch: int) -> torch.Tensor:
    x, y, weight, proxies = problem(batch)
    w, p = weight.requires_grad_(), proxies.requires_grad_()
    d2d_ce(x @ w, p[y], y, **LOSS).backward()
    return torch.cat([w.grad.flatten(), p.grad.flatten()])


class LocalSliceGather(torch.autograd.Function):
    """All-gather whose backward returns only this process's slice of the gradient, as StudioGAN's."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads):
        return grads[dist.get_rank()].clone()


def worker(rank: int, world: int, batch: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    x, y, weight, proxies = problem(batch)
    b = batch // world
    rows = slice(rank * b, (rank + 1) * b)
    grads = {}
    for mode in ("condgan", "studiogan"):
        w, p = weight.clone().requires_grad_(), proxies.clone().requires_grad_()
        embed, proxy = x[rows] @ w, p[y[rows]]
        if mode == "condgan":
            from condgan.training.distributed import gather_rows
            keys = gather_rows(embed)
            loss = d2d_ce(embed, proxy, y[rows], keys=keys, key_labels=y,
                          self_index=torch.arange(b) + rank * b, **LOSS)
        else:
            loss = d2d_ce(torch.cat(LocalSliceGather.apply(embed)), torch.cat(LocalSliceGather.apply(proxy)), y,
                          **LOSS)
        loss.backward()
        g = torch.cat([w.grad.flatten(), p.grad.flatten()])
        dist.all_reduce(g)  # what DDP does with parameter gradients: the mean over processes
        grads[mode] = g / world
    if rank == 0:
        torch.save(grads, out)
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="global batch (a multiple of --world)")
    a = ap.parse_args(argv)
    if a.batch % a.world:
        print(f"compare_ddp_d2dce: --batch {a.batch} is not a multiple of --world {a.world}", file=sys.stderr)
        return 2
    ref = single(a.batch)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "grads.pt")
        mp.spawn(worker, args=(a.world, a.batch, f"file://{os.path.join(tmp, 'rendezvous')}", out),
                 nprocs=a.world, join=True)
        grads = torch.load(out)
    print(f"D2D-CE (StudioGAN's form), {a.world} processes x {a.batch // a.world} samples, against one process "
          f"x {a.batch}:")
    for mode, g in grads.items():
        ratio = float(g @ ref / (ref @ ref))
        residual = float((g - ratio * ref).norm() / ref.norm())
        print(f"  {mode:9s} gradient = {ratio:.6f} x single-process (residual {residual:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
