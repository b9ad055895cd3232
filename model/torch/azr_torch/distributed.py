"""Data-parallel training across worker processes with torch.distributed (gloo on CPU, NCCL on GPU).

Covers: joining a process group from explicit settings (rank, world size, master address/port —
the learner actor starts one worker per GPU and passes them); splitting a step's micro-batches
round-robin over ranks; summing gradients and loss statistics over ranks in one flat bucket each,
so the update equals one rank's over the whole batch (every aggregation mode normalises by global
counts, computed from the full batch every rank receives).
Not: FSDP parameter sharding (design in engine.py's header) — here every rank holds the full model
and optimiser state, which fits 0.5B–3B on 80 GB GPUs and LoRA on larger models.
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
        torch.cuda.set_device(device)
    addr, port = a.get("masterAddr", "127.0.0.1"), int(a["masterPort"])
    dist.init_process_group(backend, init_method=f"tcp://{addr}:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=float(a.get("timeoutS", 300))))
    return DistInfo(rank, world, backend)


def all_reduce_grads(params: List[torch.nn.Parameter]) -> None:
    """Sums gradients over ranks (a rank without micro-batches contributes zeros)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset: offset + n].view_as(p).to(p.dtype)
        offset += n


def all_reduce_floats(values: List[float], device: torch.device) -> List[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
