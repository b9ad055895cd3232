"""Token choice: greedy, or temperature / top-k / top-p sampling with a counter-based RNG.

Why counter-based: sequence i's randomness must come from (seed, i) alone, whatever slot of the
continuous batch it lands in and whoever else is decoding beside it. Each draw hashes
(seed, prompt index, token step, vocab id) with murmur3's 32-bit finaliser, vectorised in int64
torch ops (products kept below 2^63), and samples by Gumbel-max — identical on CPU and GPU.
Not: repetition penalties, min-p, beam search.
"""
from __future__ import annotations

from typing import List

import torch

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2^32 for x in [0, 2^32): split x in 16-bit halves so no product overflows int64."""
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * c + (((hi * c) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = _mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def _mix32_int(x: int) -> int:
    x &= _M32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _M32
    return x ^ (x >> 16)


def row_key(seed: int, index: int, step: int) -> int:
    """The 32-bit key of one draw: sequence `index`'s `step`-th token under `seed`."""
    k = _mix32_int(seed ^ 0x5BD1E995)
    k = _mix32_int(k ^ _mix32_int(index + 0x27D4EB2F))
    return _mix32_int(k ^ _mix32_int(step + 0x165667B1))


def uniforms(keys: List[int], vocab: int, device) -> torch.Tensor:
    """(B,V) float32 uniforms in (0,1), one row per key."""
    k = torch.tensor(keys, dtype=torch.int64, device=device)[:, None]  # (B,1)
    v = torch.arange(vocab, dtype=torch.int64, device=device)[None]  # (1,V)
    bits = _mix32((k ^ _mix32(_mul32(v, _GOLDEN))) & _M32)  # (B,V)
    return ((bits >> 8).float() + 0.5) / float(1 << 24)


def filter_logits(z: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Sets logits outside top-k / the top-p nucleus to -inf. z (B,V), already temperature-scaled."""
    if top_k and 0 < top_k < z.shape[-1]:
        # exactly top_k tokens, exact ties at the k-th value going to the lower ids, as the ORT
        # sampler's heap (model/generate/sampling.ts topKIndices); `z < kth` kept every tied one
        kth = torch.topk(z, top_k, dim=-1).values[:, -1:]  # (B,1)
        tied = z == kth
        room = top_k - (z > kth).sum(dim=-1, keepdim=True)  # tied tokens that still fit
        keep = (z > kth) | (tied & (torch.cumsum(tied.to(torch.int64), dim=-1) <= room))
        z = z.masked_fill(~keep, float("-inf"))
    if top_p is not None and top_p < 1.0:
        # The ORT sampler's nucleus (model/generate/sampling.ts): tokens by descending probability,
        # exact ties by lower id (a stable sort), and the shortest prefix whose mass reaches top_p,
        # so a token stays iff the tokens before it hold less than top_p. Keeping tokens whose
        # predecessors held exactly top_p (as this did) kept one more tied token than ORT.
        sorted_z, order = torch.sort(z, dim=-1, descending=True, stable=True)
        probs = torch.softmax(sorted_z, dim=-1)
        mass = torch.cumsum(probs, dim=-1, dtype=torch.float64)  # accumulated in double, as ORT's
        mass_before = torch.nn.functional.pad(mass[:, :-1], (1, 0))  # of the tokens ahead; 0 for the top one
        drop_sorted = mass_before >= top_p  # top_p > 0: the top token always stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        z = z.masked_fill(drop, float("-inf"))
    return z


def choose(logits: torch.Tensor, keys: List[int], temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Next token per row. logits (B,V) fp32 -> (B,) int64."""
    if not temperature or temperature <= 0:
        return torch.argmax(logits, dim=-1)
    z = filter_logits(logits / temperature, top_k, top_p)
    u = uniforms(keys, logits.shape[-1], logits.device)
    gumbel = -torch.log(-torch.log(u))
    return torch.argmax(z + gumbel, dim=-1)
