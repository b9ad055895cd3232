"""Data-parallel training across worker processes with torch.distributed (gloo on CPU, NCCL on GPU).

Covers: joining a process group from explicit settings (rank, world size, master address/port —
the learner actor starts one worker per GPU and passes them); splitting a step's micro-batches
round-robin over ranks; summing gradients (in bounded fp32 buckets) and loss statistics over ranks,
so the update equals one rank's over the whole batch (every aggregation mode normalises by global
counts, computed from the full batch every rank receives).
AdamW's moments are sharded across ranks by default (training.py, ZeRO stage 1), so a rank holds
the full model and gradients but only its share of the optimiser state; with optim.fsdp the
weights and gradients are sharded too (fsdp.py, which reduces gradients itself).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import List

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int
    world: int
    backend: str


def init_distributed(a: dict, device: torch.device) -> DistInfo:
    rank, world = int(a["rank"]), int(a["worldSize"])
    if not 0 <= rank < world:
        raise ValueError(f"distributed.rank {rank} is outside worldSize {world}")
    backend = a.get("backend") or ("nccl" if device.type == "cuda" else "gloo")
    if backend == "nccl" and device.type == "cuda":
        # each rank sees only its own GPU (CUDA_VISIBLE_DEVICES) and is passed plain "cuda", which
        # set_device refuses without an index (torch 2.11 on an H200): the visible GPU is index 0
        torch.cuda.set_device(device.index if device.index is not None else 0)
    addr, port = a.get("masterAddr", "127.0.0.1"), int(a["masterPort"])
    init = dict(rank=rank, world_size=world, timeout=timedelta(seconds=float(a.get("timeoutS", 300))))
    try:
        dist.init_process_group(backend, init_method=f"tcp://{addr}:{port}", **init)
    except RuntimeError as e:
        # torch >= 2.4 asks for a libuv TCP store by default; builds without libuv (Debian's) need
        # the older store, which serves a node's handful of ranks as well
        if "libuv" not in str(e):
            raise
        dist.init_process_group(backend, init_method=f"tcp://{addr}:{port}?use_libuv=0", **init)
    return DistInfo(rank, world, backend)


# Gradients travel in fp32 buckets of at most this many values (256 MB): one flat copy of every
# gradient would add a full fp32 model to each GPU's peak (28 GB for 7B), a bucket only its size.
BUCKET_VALUES = 1 << 26


def all_reduce_grads(params: List[torch.nn.Parameter], bucket_values: int = BUCKET_VALUES) -> None:
    """Sums gradients over ranks (a rank without micro-batches contributes zeros), in fp32."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    bucket: List[torch.nn.Parameter] = []
    size = 0
    for p in params:
        if bucket and size + p.numel() > bucket_values:
            _reduce_bucket(bucket)
            bucket, size = [], 0
        bucket.append(p)
        size += p.numel()
    if bucket:
        _reduce_bucket(bucket)


def _reduce_bucket(bucket: List[torch.nn.Parameter]) -> None:
    flat = torch.cat([p.grad.reshape(-1).float() for p in bucket])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in bucket:
        n = p.numel()
        p.grad.copy_(flat[offset: offset + n].view_as(p))
        offset += n


def all_reduce_floats(values: List[float], device: torch.device) -> List[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
