"""Tensor-parallel inference (Megatron layout) for the rollout engine: one rank per GPU, each holding
1/tp of every decoder layer, so a 14B model's bf16 weights take ~9.7 GB a GPU at tp 4 (6.6 GB of
layers, 3.1 GB of replicated embeddings and lm_head) and leave the rest of a GPU shared with the
colocated learner for the KV cache.

Layout per layer: q/k/v and gate/up are split by output rows (whole attention heads / MLP columns per
rank: heads, key-value heads and the intermediate size must divide by tp), o_proj and down_proj by
input columns; their outputs are partial sums, added over the ranks by one all-reduce each (a bias
of those two counts once: rank 0 keeps it, the others hold zeros). Embeddings, norms and the
lm_head are replicated, so every rank computes the same logits; the sampled tokens (and a
cancellation) are still broadcast from rank 0 each step, so the ranks' generation loops can never
drift apart (a drifted rank would wait in a collective the others never join).
Weights arrive whole (checkpoints, weight-sync files, setWeights frames, LoRA deltas) and each rank
keeps its slice: `shard` cuts a full tensor, `full_shape` says what a whole one looks like.
Not: training (the learner shards with FSDP), a vocabulary-parallel lm_head, sequence parallelism.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import torch
import torch.distributed as dist

# parameter name suffix -> the dimension split over ranks; "row" layers' outputs are partial sums
_COLUMN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")
_ROW = ("self_attn.o_proj", "mlp.down_proj")


class TensorParallel:
    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world

    def shard_config(self, cfg):
        """The config one rank builds: heads, key-value heads and the MLP width divided by tp."""
        H, Hkv, inter = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.intermediate_size
        bad = [f"{what} {n}" for what, n in (("num_attention_heads", H), ("num_key_value_heads", Hkv), ("intermediate_size", inter)) if n % self.world]
        if bad:
            raise ValueError(f"tensor parallel {self.world}: {', '.join(bad)} not divisible by {self.world}; "
                             f"use a tensor-parallel size that divides them (resources.rolloutTensorParallel)")
        return dataclasses.replace(cfg, num_attention_heads=H // self.world, num_key_value_heads=Hkv // self.world,
                                   intermediate_size=inter // self.world)

    @staticmethod
    def _kind(name: str) -> Optional[Tuple[str, str]]:
        """("column"|"row", "weight"|"bias") for a split parameter's HF name, else None (replicated)."""
        for kind, layers in (("column", _COLUMN), ("row", _ROW)):
            for layer in layers:
                for what in ("weight", "bias"):
                    if name.endswith(f"{layer}.{what}"):
                        return kind, what
        return None

    def shard(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """This rank's part of the whole tensor `t` (a view where possible)."""
        kind = self._kind(name)
        if kind is None:
            return t
        layout, what = kind
        if layout == "column":  # weight (out, in), bias (out,): a contiguous block of output rows
            if t.shape[0] % self.world:
                raise ValueError(f"{name}: {t.shape[0]} output rows do not split over {self.world} ranks")
            n = t.shape[0] // self.world
            return t[self.rank * n: (self.rank + 1) * n]
        if what == "bias":  # row-parallel bias: added once, by rank 0
            return t if self.rank == 0 else torch.zeros_like(t)
        if t.shape[1] % self.world:
            raise ValueError(f"{name}: {t.shape[1]} input columns do not split over {self.world} ranks")
        n = t.shape[1] // self.world
        return t[:, self.rank * n: (self.rank + 1) * n]

    def full_shape(self, name: str, local: Tuple[int, ...]) -> Tuple[int, ...]:
        kind = self._kind(name)
        if kind is None or kind == ("row", "bias"):
            return tuple(local)
        dim = 0 if kind[0] == "column" else 1
        return tuple(n * self.world if i == dim else n for i, n in enumerate(local))

    def install(self, model) -> None:
        """Adds the all-reduce after every row-parallel layer (Attention.o_proj, MLP.down_proj)."""
        def reduce(y: torch.Tensor) -> torch.Tensor:
            dist.all_reduce(y, op=dist.ReduceOp.SUM)
            return y

        for layer in model.model.layers:
            layer.self_attn.tp_reduce = reduce
            layer.mlp.tp_reduce = reduce

    def broadcast_tokens(self, toks: torch.Tensor) -> torch.Tensor:
        dist.broadcast(toks, src=0)
        return toks

    def agree(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's flag on every rank (a cancellation must stop every rank at the same step)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def all_true(self, flag: bool, device: torch.device) -> bool:
        """True on every rank only if it is true on all (a CUDA graph captured everywhere or nowhere)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())
