"""Batched generation with a preallocated KV cache and continuous batching.

Covers: S slots (S = min(maxBatch, prompts)); each slot's keys/values live in a cache of shape
(S, Hkv, Lmax, D) per layer, allocated once. Prompts waiting in the queue are prefilled together
(right-padded) into the free slots, then every active slot decodes one token per step; a sequence
that ends (eos, stop string, maxNewTokens) is yielded at once and its slot is refilled by the next
prompt. Decode runs over slots [0, highest active] only, so a draining batch gets cheaper.
Log-probs are of the raw logits (before temperature), as the interface promises.
Stop strings are matched on bytes of the decoded text; the sequence keeps the tokens that end
before the stop string begins, and its text is cut there.
Equal prompts (self-play samples each proposal n times) are prefilled once: the first copy's
cache rows are copied into the others' slots, and kept (with the prompt's last logits) while a copy
of it still waits in the queue.
Not: paged attention, sharing of prompt prefixes that are not whole prompts, speculative decoding, torch.compile / CUDA graphs of the
decode step (the step's shapes change as slots fill and drain; a later change can pad them to
buckets and capture one graph per bucket).
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional

import numpy as np
import torch

from .detok import Detokenizer
from .modeling import CausalLM, causal_keep
from .sampling import choose, row_key


@dataclass
class GenOptions:
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    first_index: int = 0  # sequence i draws from (seed, first_index + i): a split request samples as the whole one
    stop: List[str] = field(default_factory=list)
    max_batch: int = 64
    cuda_graphs: bool = True  # on CUDA: replay one captured decode step (see _GraphDecode)


@dataclass
class _Seq:
    index: int
    length: int  # tokens in the cache for this slot
    tokens: List[int] = field(default_factory=list)
    logprobs: List[float] = field(default_factory=list)
    text_bytes: bytes = b""
    byte_ends: List[int] = field(default_factory=list)  # cumulative text bytes after each token


class Generator:
    def __init__(self, model: CausalLM, detok: Optional[Detokenizer], eos_ids: List[int], tp=None):
        """`tp`: a tensor-parallel rank (tensor_parallel.TensorParallel): every rank runs this loop in
        step, taking rank 0's sampled tokens and rank 0's cancellation."""
        self.model, self.detok, self.eos, self.tp = model, detok, set(eos_ids), tp

    @torch.inference_mode()
    def run(self, prompts: List[List[int]], o: GenOptions, cancelled: Callable[[], bool] = lambda: False) -> Iterator[dict]:
        if o.stop and self.detok is None:
            raise ValueError("stop strings need the model folder's tokenizer.json (none found)")
        if o.max_new_tokens <= 0:
            raise ValueError(f"maxNewTokens must be >= 1, got {o.max_new_tokens}")
        for i, p in enumerate(prompts):
            if len(p) == 0:
                raise ValueError(f"prompt {i} is empty; generation needs at least one prompt token")
        if not prompts:
            return
        m, cfg = self.model, self.model.cfg
        # refused up front, as the ORT engine does (model/generate/loop.ts): RoPE here is computed
        # for any position, so a longer sequence would decode on, silently past what the model was
        # trained for, where the other backend raises
        longest = max(len(p) for p in prompts)
        if longest + o.max_new_tokens > cfg.max_position_embeddings:
            raise ValueError(f"prompt ({longest} tokens) + maxNewTokens ({o.max_new_tokens}) exceeds the model's max_position_embeddings "
                             f"{cfg.max_position_embeddings} (config.json); shorten the prompt or lower maxNewTokens")
        dev = m.lm_head.weight.device
        dtype = m.model.embed_tokens.weight.dtype
        S = max(1, min(o.max_batch, len(prompts)))
        Lmax = longest + o.max_new_tokens
        shape = (S, cfg.num_key_value_heads, Lmax, cfg.head_dim)
        cache_k = [torch.zeros(shape, dtype=dtype, device=dev) for _ in range(cfg.num_hidden_layers)]
        cache_v = [torch.zeros(shape, dtype=dtype, device=dev) for _ in range(cfg.num_hidden_layers)]
        stop_bytes = [s.encode("utf-8") for s in o.stop if s]
        longest_stop = max((len(s) for s in stop_bytes), default=0)

        # captured before any prefill: its warm-up runs write dummy keys at position 0 of every slot
        graph = _GraphDecode.try_capture(m, cache_k, cache_v, S, Lmax, dev) if o.cuda_graphs and dev.type == "cuda" else None
        if self.tp is not None and o.cuda_graphs and dev.type == "cuda" and not self.tp.all_true(graph is not None, dev):
            graph = None  # captured on some ranks only: all decode eagerly, so their collectives pair up
        slots: List[Optional[_Seq]] = [None] * S
        queue = deque(range(len(prompts)))
        keys = [tuple(p) for p in prompts]
        waiting = Counter(keys)  # prompt -> its copies not admitted yet
        kept: dict = {}  # prompt -> _Prefilled, while a copy still waits

        def accept(seq: _Seq, token: int, logprob: float) -> Optional[str]:
            """Records one sampled token; returns the finish reason if the sequence is done."""
            seq.logprobs.append(logprob)
            seq.tokens.append(token)
            if self.detok is not None:
                # as the ORT engine's text (tokenizer decode without skipping special tokens): an eos
                # token adds no text, any other token its content, special or not
                piece = b"" if token in self.eos else self.detok.pieces.get(token, b"")
                seq.text_bytes += piece
                seq.byte_ends.append(len(seq.text_bytes))
                if stop_bytes and piece:
                    window_from = max(0, len(seq.text_bytes) - len(piece) - longest_stop + 1)
                    hits = [h for h in (seq.text_bytes.find(s, window_from) for s in stop_bytes) if h >= 0]
                    if hits:
                        cut = min(hits)
                        keep = sum(1 for e in seq.byte_ends if e <= cut)
                        del seq.tokens[keep:], seq.logprobs[keep:]
                        seq.text_bytes = seq.text_bytes[:cut]
                        return "stop"
            if token in self.eos:
                return "eos"
            if len(seq.tokens) >= o.max_new_tokens:
                return "length"
            return None

        def finished(seq: _Seq, reason: str) -> dict:
            text = seq.text_bytes.decode("utf-8", errors="replace") if self.detok else ""
            return {
                "index": seq.index,
                "tokens": seq.tokens,
                "text": text,
                "logprobs": np.asarray(seq.logprobs, dtype="<f4").tobytes(),
                "finishReason": reason,
            }

        def sample(rows: torch.Tensor, seqs: List[_Seq]):
            """rows (n,V) fp32 logits -> [(token, log-prob under the raw logits)] per row, one sync."""
            keys = [row_key(o.seed, o.first_index + s.index, len(s.tokens)) for s in seqs]
            toks = choose(rows, keys, o.temperature, o.top_k, o.top_p)  # (n,)
            if self.tp is not None:
                toks = self.tp.broadcast_tokens(toks)
            lps = torch.log_softmax(rows, dim=-1).gather(-1, toks[:, None])[:, 0]  # (n,)
            return list(zip(toks.tolist(), lps.tolist()))

        while queue or any(s is not None for s in slots):
            stop = cancelled()
            if self.tp is not None:
                stop = self.tp.agree(stop, dev)
            if stop:
                raise GenerationCancelled("generate was cancelled by the caller")
            # admit waiting prompts into free slots: one right-padded prefill of the distinct prompts
            # not prefilled yet; each other copy takes a copy of its cache rows
            free = [i for i, s in enumerate(slots) if s is None]
            if free and queue:
                take = [queue.popleft() for _ in range(min(len(free), len(queue)))]
                slot_ids = free[: len(take)]
                first_row = {}  # prompt -> the row of `take` whose slot holds its fresh prefill
                for r, i in enumerate(take):
                    if keys[i] not in kept:
                        first_row.setdefault(keys[i], r)
                fresh = list(first_row.values())
                last_of = {}  # prompt -> its last prompt position's logits (V,)
                if fresh:
                    lens = [len(prompts[take[r]]) for r in fresh]
                    T = max(lens)
                    ids = torch.tensor([prompts[take[r]] + [0] * (T - len(prompts[take[r]])) for r in fresh], dtype=torch.long).to(dev)  # (n,T)
                    lengths = torch.tensor(lens, device=dev)
                    slot_t = torch.tensor([slot_ids[r] for r in fresh], device=dev)

                    def prefill_hook(layer, k, v):  # k (n,Hkv,T,D): store, attend over the fresh keys
                        cache_k[layer][slot_t, :, :T] = k
                        cache_v[layer][slot_t, :, :T] = v
                        return k, v

                    positions = torch.arange(T, device=dev)[None].expand(len(fresh), T)
                    h = m.hidden_states(ids, positions, causal_keep(T, dev, lengths), prefill_hook)  # (n,T,C)
                    last = m.logits(h[torch.arange(len(fresh), device=dev), lengths - 1])  # (n,V)
                    for j, r in enumerate(fresh):
                        last_of[keys[take[r]]] = last[j]
                # the other copies: rows from this prefill's slot, or from a prefill kept from before
                copies = [(r, slot_ids[first_row[keys[i]]]) for r, i in enumerate(take) if keys[i] in first_row and r != first_row[keys[i]]]
                if copies:
                    _copy_rows(cache_k, cache_v, [slot_ids[r] for r, _ in copies], [src for _, src in copies], max(len(prompts[take[r]]) for r, _ in copies))
                for r, i in enumerate(take):
                    if keys[i] in kept:
                        kept[keys[i]].write(cache_k, cache_v, slot_ids[r])
                rows = torch.stack([last_of[keys[i]] if keys[i] in last_of else kept[keys[i]].last for i in take])  # (n,V)
                for i in take:
                    waiting[keys[i]] -= 1
                for key in {keys[i] for i in take}:
                    if waiting[key] == 0:
                        kept.pop(key, None)
                    elif key not in kept:
                        kept[key] = _Prefilled.of(cache_k, cache_v, slot_ids[first_row[key]], len(key), last_of[key])
                seqs = [_Seq(index=i, length=len(prompts[i])) for i in take]
                for r, (seq, (tok, lp)) in enumerate(zip(seqs, sample(rows, seqs))):
                    reason = accept(seq, tok, lp)
                    if reason:
                        yield finished(seq, reason)
                    else:
                        slots[slot_ids[r]] = seq
                continue  # admit more before decoding if slots freed up immediately
            if graph is None and not queue:
                _compact(slots, cache_k, cache_v)
            active = [i for i, s in enumerate(slots) if s is not None]
            n = active[-1] + 1
            tok_list, pos_list = [0] * n, [0] * n  # idle slots below the highest active one decode a dummy token (graph path only)
            for i in active:
                tok_list[i] = slots[i].tokens[-1]
                pos_list[i] = slots[i].length
            if graph is not None:
                logits = graph(tok_list, pos_list)  # (n,V)
            else:
                logits = _eager_decode(m, cache_k, cache_v, tok_list, pos_list, dev)  # (n,V)
            seqs = [slots[i] for i in active]
            chosen = sample(logits if len(active) == n else logits[torch.tensor(active).to(dev)], seqs)
            for r, i in enumerate(active):
                seq = slots[i]
                seq.length += 1
                reason = accept(seq, *chosen[r])
                if reason:
                    slots[i] = None
                    yield finished(seq, reason)


class GenerationCancelled(Exception):
    pass


def _copy_rows(cache_k, cache_v, dst: List[int], src: List[int], T: int) -> None:
    """Copies cache positions [0, T) of slots `src` into slots `dst` (distinct from every src)."""
    d = torch.tensor(dst, device=cache_k[0].device)
    s = torch.tensor(src, device=cache_k[0].device)
    for ck, cv in zip(cache_k, cache_v):
        ck[d, :, :T] = ck[s, :, :T]
        cv[d, :, :T] = cv[s, :, :T]


@dataclass
class _Prefilled:
    """A prompt's prefilled cache rows (one (Hkv, T, D) tensor a layer) and last logits, kept
    across admissions while a copy of the prompt still waits: the slot it was prefilled into may
    be refilled before then."""
    keys: List[torch.Tensor]
    values: List[torch.Tensor]
    last: torch.Tensor

    @staticmethod
    def of(cache_k, cache_v, slot: int, T: int, last: torch.Tensor) -> "_Prefilled":
        return _Prefilled([ck[slot, :, :T].clone() for ck in cache_k], [cv[slot, :, :T].clone() for cv in cache_v], last)

    def write(self, cache_k, cache_v, slot: int) -> None:
        T = self.keys[0].shape[1]
        for ck, cv, k, v in zip(cache_k, cache_v, self.keys, self.values):
            ck[slot, :, :T] = k
            cv[slot, :, :T] = v


def _compact(slots: List[Optional["_Seq"]], cache_k, cache_v) -> None:
    """Moves the highest live slots (and their cache rows) into the free slots below them, so an
    eager step's rows [0, n) are all live: with no prompt waiting to take a freed slot, a finished
    sequence below the highest live one would otherwise go on costing a dummy row every step. One
    row move per finished sequence; the CUDA-graph step computes every slot anyway (static shapes)."""
    live = [i for i, s in enumerate(slots) if s is not None]
    holes = [i for i in range(len(live)) if slots[i] is None]
    tops = [i for i in reversed(live) if i >= len(live)]
    for dst, src in zip(holes, tops):
        for ck, cv in zip(cache_k, cache_v):
            ck[dst] = ck[src]
            cv[dst] = cv[src]
        slots[dst], slots[src] = slots[src], None


def _eager_decode(m: CausalLM, cache_k, cache_v, tok_list: List[int], pos_list: List[int], dev) -> torch.Tensor:
    """One decode step over slots [0, n): attends over the cache up to the longest position only."""
    n = len(tok_list)
    tok = torch.tensor(tok_list, dtype=torch.long).to(dev)[:, None]  # (n,1): one host->device copy per step
    pos = torch.tensor(pos_list).to(dev)  # (n,) where the new token goes
    L = max(pos_list) + 1
    rows = torch.arange(n, device=dev)

    def hook(layer, k, v):  # k (n,Hkv,1,D): write at each slot's position, attend over the cache
        cache_k[layer][rows, :, pos] = k[:, :, 0]
        cache_v[layer][rows, :, pos] = v[:, :, 0]
        return cache_k[layer][:n, :, :L], cache_v[layer][:n, :, :L]

    keep = (torch.arange(L, device=dev)[None, :] <= pos[:, None])[:, None, None, :]  # (n,1,1,L)
    h = m.hidden_states(tok, pos[:, None], keep, hook)  # (n,1,C)
    return m.logits(h[:, 0])  # (n,V)


class _GraphDecode:
    """The decode step captured once as a CUDA graph over all S slots and the full cache length.

    Why: a small model's decode step is hundreds of tiny kernels, and launching them from Python
    costs more than running them; a replay launches them all at once. Static shapes are the price:
    every slot computes each step (idle ones on a dummy token at position 0, harmless because a
    slot is prefilled from position 0 when a prompt joins) and attention spans Lmax keys, masked.
    """

    def __init__(self, m: CausalLM, cache_k, cache_v, S: int, Lmax: int, dev):
        self.S = S
        self.tok = torch.zeros((S, 1), dtype=torch.long, device=dev)
        self.pos = torch.zeros((S,), dtype=torch.long, device=dev)
        # every tensor the graph reads must outlive it: a replay reads raw addresses, and memory
        # freed by Python would be reused by the next prefill (garbage indices)
        self.rows = torch.arange(S, device=dev)
        self.keys = torch.arange(Lmax, device=dev)
        self.cache_k, self.cache_v = cache_k, cache_v

        def hook(layer, k, v):
            cache_k[layer][self.rows, :, self.pos] = k[:, :, 0]
            cache_v[layer][self.rows, :, self.pos] = v[:, :, 0]
            return cache_k[layer], cache_v[layer]

        def step():
            keep = (self.keys[None, :] <= self.pos[:, None])[:, None, None, :]  # (S,1,1,Lmax)
            return m.logits(m.hidden_states(self.tok, self.pos[:, None], keep, hook)[:, 0])  # (S,V)

        side = torch.cuda.Stream(device=dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up off the capture stream, as CUDA graphs require
            for _ in range(2):
                step()
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = step()

    @staticmethod
    def try_capture(m, cache_k, cache_v, S, Lmax, dev) -> Optional["_GraphDecode"]:
        if not hasattr(torch.cuda, "CUDAGraph"):
            return None
        try:
            return _GraphDecode(m, cache_k, cache_v, S, Lmax, dev)
        except Exception as e:  # noqa: BLE001 - eager decode is always correct, only slower
            import sys

            import traceback

            print(f"azr_torch: CUDA graph capture failed, decoding eagerly: {e!r}\n{traceback.format_exc()}", file=sys.stderr)
            for ck, cv in zip(cache_k, cache_v):  # the warm-up may have written dummy keys
                ck.zero_()
                cv.zero_()
            return None

    def __call__(self, tok_list: List[int], pos_list: List[int]) -> torch.Tensor:
        n, pad = len(tok_list), [0] * (self.S - len(tok_list))
        self.tok.copy_(torch.tensor(tok_list + pad, dtype=torch.long).view(self.S, 1), non_blocking=False)
        self.pos.copy_(torch.tensor(pos_list + pad, dtype=torch.long), non_blocking=False)
        self.graph.replay()
        return self.logits[:n]
