"""Decoder-only transformers of the Qwen2 / Llama 3.x / Qwen3 family, driven by Hugging Face's
`config.json`, written as one readable path from token ids to hidden states.

Covers: GQA attention (q/k/v bias for Qwen2, none for Llama/Qwen3 unless `attention_bias`), RoPE
with `rope_scaling` default / linear / llama3 (as model/rope.ts), RMSNorm (fp32 statistics, as HF), SwiGLU MLP, Qwen3's
per-head q/k RMSNorm before RoPE, tied or untied embeddings, a key/value hook so the generator can
keep its own preallocated cache, gradient checkpointing, and weight names identical to HF's so
checkpoints load and save without a rename table.
Not: sliding-window attention (Qwen2's `use_sliding_window`, off in every released Qwen2.5),
rope types other than those three, MoE variants.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

SUPPORTED_MODEL_TYPES = ("qwen2", "llama", "qwen3")
HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


def _sdpa_has_gqa() -> bool:  # torch >= 2.5: grouped heads without copying K/V to every query head
    try:
        major, minor = (int(x) for x in torch.__version__.split(".")[:2])
        return (major, minor) >= (2, 5)
    except ValueError:
        return False


SDPA_GQA = HAVE_SDPA and _sdpa_has_gqa()


@dataclass
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: Optional[dict]
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    qk_norm: bool
    max_position_embeddings: int
    eos_token_ids: List[int] = field(default_factory=list)

    @staticmethod
    def from_hf(cfg: dict) -> "ModelConfig":
        mt = cfg.get("model_type")
        if mt not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"config.json model_type {mt!r} is not one azr's torch engine builds; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
        if cfg.get("use_sliding_window"):
            raise ValueError("config.json sets use_sliding_window: true; azr's torch engine implements full attention only")
        act = cfg.get("hidden_act", "silu")
        if act != "silu":  # the MLP is SwiGLU with silu: another activation would run silently as silu
            raise ValueError(f"config.json hidden_act {act!r} is not supported (azr's MLP is SwiGLU with silu)")
        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"):
            if not isinstance(cfg.get(key), int):
                raise ValueError(f"config.json: {key!r} is missing or not a number")
        defaults = HF_DEFAULTS[mt]
        heads = cfg["num_attention_heads"]
        # absent -> the class default; an explicit null -> the head count (transformers' __post_init__)
        kv_heads = cfg["num_key_value_heads"] if "num_key_value_heads" in cfg else defaults.get("num_key_value_heads")
        kv_heads = heads if kv_heads is None else kv_heads
        if heads % kv_heads:
            raise ValueError(f"config.json: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
                             + ("" if "num_key_value_heads" in cfg else f" (transformers' {mt} default for a missing num_key_value_heads; set it in config.json)"))
        # transformers >= 5 moves rope settings into `rope_parameters`; older configs keep them at top level
        rope = cfg.get("rope_parameters") or {}
        theta = cfg.get("rope_theta", rope.get("rope_theta", 10000.0))
        # rope_parameters with only rope_theta is plain RoPE; with scaling keys it must name its kind (as model/config.ts)
        kind = rope_kind(rope) if rope else None
        scaling = cfg.get("rope_scaling") or (rope if kind not in (None, "default") or (kind is None and "factor" in rope) else None)
        check_rope_scaling(scaling, "rope_scaling" if cfg.get("rope_scaling") else "rope_parameters")
        attention_bias = cfg.get("attention_bias", False)
        eos = cfg.get("eos_token_id")
        head_dim = cfg.get("head_dim") or defaults.get("head_dim") or cfg["hidden_size"] // heads
        return ModelConfig(
            model_type=mt,
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
            rope_theta=float(theta),
            rope_scaling=scaling,
            # transformers' default is untied for all three families (released Qwen checkpoints that tie say so)
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            # Qwen2 always has q/k/v bias and no o bias; Llama and Qwen3 follow `attention_bias` for all four
            qkv_bias=True if mt == "qwen2" else bool(attention_bias),
            o_bias=False if mt == "qwen2" else bool(attention_bias),
            mlp_bias=bool(cfg.get("mlp_bias", False)),
            qk_norm=mt == "qwen3",
            max_position_embeddings=cfg.get("max_position_embeddings", defaults["max_position_embeddings"]),
            eos_token_ids=[] if eos is None else ([eos] if isinstance(eos, int) else list(eos)),
        )


# What transformers' Qwen2Config / LlamaConfig / Qwen3Config assume for a key config.json leaves out;
# the same table as model/config.ts's HF_DEFAULTS (test/torch/config-parity.test.ts checks both).
# Qwen2/Qwen3 default num_key_value_heads to 32 (only an explicit null means "as many as the heads").
HF_DEFAULTS = {
    "qwen2": {"max_position_embeddings": 32768, "num_key_value_heads": 32},
    "llama": {"max_position_embeddings": 2048},
    "qwen3": {"max_position_embeddings": 32768, "num_key_value_heads": 32, "head_dim": 128},
}

# rope_scaling types rope_inv_freq implements, as model/rope.ts does; each with the keys it reads
ROPE_TYPES = {"default": (), "linear": ("factor",),
              "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}


def rope_kind(sc: Optional[dict]) -> Optional[str]:
    return None if sc is None else sc.get("rope_type", sc.get("type"))


def check_rope_scaling(sc: Optional[dict], what: str) -> None:
    """Refuses, at load, a rope scaling this engine would not compute as transformers does."""
    if sc is None:
        return
    kind = rope_kind(sc)
    have = ", ".join(repr(k) for k in ROPE_TYPES)
    if kind is None:
        raise ValueError(f"config.json {what} has no rope_type (or type): name one of {have}")
    if kind not in ROPE_TYPES:
        raise ValueError(f"config.json {what}: rope_type {kind!r} is not supported; azr implements {have} (both engines)")
    for key in ROPE_TYPES[kind]:
        v = sc.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"config.json {what}: rope_type {kind!r} needs {key!r} as a positive number, got {v!r}")


def rope_inv_freq(cfg: ModelConfig) -> torch.Tensor:
    """Inverse frequencies (head_dim/2,), fp32, with the config's rope scaling applied."""
    d = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    sc = cfg.rope_scaling
    kind = rope_kind(sc)
    if kind in (None, "default"):
        pass
    elif kind == "linear":
        inv = inv / sc["factor"]
    elif kind == "llama3":
        # Llama 3.1: long wavelengths divided by `factor`, short kept, a smooth blend in between
        factor, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
        old_ctx = sc["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old_ctx / lo, inv / factor, inv)
        smooth = (old_ctx / wavelen - lo) / (hi - lo)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old_ctx / hi) & (wavelen <= old_ctx / lo)
        inv = torch.where(medium, blended, scaled)
    else:
        raise ValueError(f"rope_scaling type {kind!r} is not implemented (have: default, linear, llama3)")
    return inv.float()


def rope_cos_sin(inv_freq: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (B,1,T,D) for integer positions (B,T); computed in fp32 as HF does."""
    freqs = positions.float()[..., None] * inv_freq.to(positions.device)  # (B,T,D/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (B,T,D)
    return emb.cos()[:, None].to(dtype), emb.sin()[:, None].to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, device=None, dtype=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, device=device, dtype=dtype))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: Optional[torch.Tensor]) -> torch.Tensor:
    """q (B,H,T,D), k/v (B,Hkv,L,D), keep (B,1,T,L) bool, or None for plain causal attention (T == L)
    -> (B,H,T,D). Grouped-query attention."""
    B, H, T, D = q.shape
    Hkv, L = k.shape[1], k.shape[2]
    G = H // Hkv
    causal = keep is None  # SDPA's is_causal picks the flash kernel; a mask tensor rules it out
    if SDPA_GQA and q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=causal, enable_gqa=True)
    if HAVE_SDPA and q.is_cuda:
        kx = k[:, :, None].expand(B, Hkv, G, L, D).reshape(B, H, L, D)
        vx = v[:, :, None].expand(B, Hkv, G, L, D).reshape(B, H, L, D)
        return F.scaled_dot_product_attention(q, kx, vx, attn_mask=keep, is_causal=causal)
    if causal:
        keep = causal_keep(T, q.device)
    # eager path: group query heads over their shared key head, no K/V copy
    q5 = q.reshape(B, Hkv, G, T, D)  # (B,Hkv,G,T,D)
    scores = torch.matmul(q5, k[:, :, None].transpose(-1, -2)) / math.sqrt(D)  # (B,Hkv,G,T,L)
    scores = scores.float().masked_fill(~keep[:, :, None], float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype)
    return torch.matmul(probs, v[:, :, None]).reshape(B, H, T, D)  # (B,H,T,D)


# (layer index, new k (B,Hkv,T,D), new v) -> (k, v) to attend over; the generator's cache lives behind it
KVHook = Callable[[int, torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


class Attention(nn.Module):
    tp_reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # set by tensor_parallel.install
    def __init__(self, cfg: ModelConfig, layer: int, device=None, dtype=None):
        super().__init__()
        self.layer, self.cfg = layer, cfg
        H, Hkv, D, C = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        kw = dict(device=device, dtype=dtype)
        self.q_proj = nn.Linear(C, H * D, bias=cfg.qkv_bias, **kw)
        self.k_proj = nn.Linear(C, Hkv * D, bias=cfg.qkv_bias, **kw)
        self.v_proj = nn.Linear(C, Hkv * D, bias=cfg.qkv_bias, **kw)
        self.o_proj = nn.Linear(H * D, C, bias=cfg.o_bias, **kw)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(D, cfg.rms_norm_eps, **kw)
            self.k_norm = RMSNorm(D, cfg.rms_norm_eps, **kw)

    def forward(self, x, cos, sin, keep, kv_hook: Optional[KVHook]):
        B, T, _ = x.shape
        H, Hkv, D = self.cfg.num_attention_heads, self.cfg.num_key_value_heads, self.cfg.head_dim
        q = self.q_proj(x).view(B, T, H, D)  # (B,T,H,D)
        k = self.k_proj(x).view(B, T, Hkv, D)  # (B,T,Hkv,D)
        v = self.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)  # (B,Hkv,T,D)
        if self.cfg.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q.transpose(1, 2), cos, sin)  # (B,H,T,D)
        k = apply_rope(k.transpose(1, 2), cos, sin)  # (B,Hkv,T,D)
        if kv_hook is not None:
            k, v = kv_hook(self.layer, k, v)  # (B,Hkv,L,D)
        y = attend(q, k, v, keep)  # (B,H,T,D)
        out = self.o_proj(y.transpose(1, 2).reshape(B, T, H * D))
        return out if self.tp_reduce is None else self.tp_reduce(out)  # tensor parallel: sum of the ranks' heads


class MLP(nn.Module):
    tp_reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # set by tensor_parallel.install
    def __init__(self, cfg: ModelConfig, device=None, dtype=None):
        super().__init__()
        C, I, b = cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias
        self.gate_proj = nn.Linear(C, I, bias=b, device=device, dtype=dtype)
        self.up_proj = nn.Linear(C, I, bias=b, device=device, dtype=dtype)
        self.down_proj = nn.Linear(I, C, bias=b, device=device, dtype=dtype)

    def forward(self, x):
        out = self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return out if self.tp_reduce is None else self.tp_reduce(out)  # tensor parallel: sum of the ranks' columns


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, device=None, dtype=None):
        super().__init__()
        self.self_attn = Attention(cfg, layer, device, dtype)
        self.mlp = MLP(cfg, device, dtype)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device, dtype)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device, dtype)

    def forward(self, x, cos, sin, keep, kv_hook=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, keep, kv_hook)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """`model.*` in HF names: embeddings, layers, final norm."""

    def __init__(self, cfg: ModelConfig, device=None, dtype=None):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, device=device, dtype=dtype)
        self.layers = nn.ModuleList([DecoderLayer(cfg, i, device, dtype) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device, dtype)


class CausalLM(nn.Module):
    def __init__(self, cfg: ModelConfig, device=None, dtype=None):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg, device, dtype)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False, device=device, dtype=dtype)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.register_buffer("inv_freq", rope_inv_freq(cfg).to(device="cpu" if device == "meta" else device), persistent=False)
        self.gradient_checkpointing = False

    def hidden_states(self, ids: torch.Tensor, positions: torch.Tensor, keep: Optional[torch.Tensor], kv_hook: Optional[KVHook] = None) -> torch.Tensor:
        """ids, positions (B,T); keep (B,1,T,L) bool, or None for causal -> final-normed hidden states (B,T,C)."""
        x = self.model.embed_tokens(ids)  # (B,T,C)
        cos, sin = rope_cos_sin(self.inv_freq, positions, x.dtype)
        for layer in self.model.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = _checkpoint(layer, x, cos, sin, keep)
            else:
                x = layer(x, cos, sin, keep, kv_hook)
        return self.model.norm(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (...,C) -> fp32 logits (...,V)."""
        return self.lm_head(h).float()

    def forward(self, ids: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Full-sequence logits (B,T,V) for right-padded ids; `lengths` (B,) masks the padding keys."""
        B, T = ids.shape
        positions = torch.arange(T, device=ids.device)[None].expand(B, T)
        keep = causal_keep(T, ids.device, lengths)
        return self.logits(self.hidden_states(ids, positions, keep))

    def reset_rope(self) -> None:
        """Recomputes the RoPE buffer (after `to_empty` from the meta device)."""
        self.inv_freq = rope_inv_freq(self.cfg).to(self.lm_head.weight.device)


def causal_keep(T: int, device, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B|1,1,T,T) bool: key j visible to query i when j <= i (and j < length for right padding)."""
    idx = torch.arange(T, device=device)
    keep = (idx[None, :] <= idx[:, None])[None, None]  # (1,1,T,T)
    if lengths is not None:
        keep = keep & (idx[None, None, None, :] < lengths.to(device)[:, None, None, None])
    return keep


def _checkpoint(layer, x, cos, sin, keep):
    from torch.utils.checkpoint import checkpoint

    # use_reentrant=False works with inputs that do not require grad (LoRA on a frozen base)
    return checkpoint(layer, x, cos, sin, keep, use_reentrant=False)
