"""An independent NumPy forward pass of the Qwen2 / Llama 3 / Qwen3 decoder, for parity tests.

Written from the architectures' definitions (not from azr's torch code): float64 throughout,
explicit loops over heads, GQA by index (head h uses key head h // (H/Hkv)), rotate-half RoPE
with the llama3 frequency rule, RMSNorm, SwiGLU.
"""
from __future__ import annotations

import math

import numpy as np


def inv_freq(cfg: dict) -> np.ndarray:
    D = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    f = 1.0 / cfg["rope_theta"] ** (np.arange(0, D, 2) / D)
    sc = cfg.get("rope_scaling")
    if sc and sc.get("rope_type", sc.get("type")) == "llama3":
        out = []
        for x in f:
            wl = 2 * math.pi / x
            lo_wl = sc["original_max_position_embeddings"] / sc["low_freq_factor"]
            hi_wl = sc["original_max_position_embeddings"] / sc["high_freq_factor"]
            if wl < hi_wl:
                out.append(x)
            elif wl > lo_wl:
                out.append(x / sc["factor"])
            else:
                t = (sc["original_max_position_embeddings"] / wl - sc["low_freq_factor"]) / (sc["high_freq_factor"] - sc["low_freq_factor"])
                out.append((1 - t) * x / sc["factor"] + t * x)
        f = np.array(out)
    return f


def rms(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def rope(x, pos, f):
    """x (T,D) for one head."""
    ang = pos[:, None] * f[None, :]  # (T,D/2)
    cos, sin = np.cos(ang), np.sin(ang)
    half = x.shape[-1] // 2
    a, b = x[:, :half], x[:, half:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def logits(cfg: dict, W: dict, ids) -> np.ndarray:
    """Logits (T,V) of one unpadded sequence."""
    W = {k: v.astype(np.float64) for k, v in W.items()}
    C, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    eps, mt = cfg["rms_norm_eps"], cfg["model_type"]
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    f = inv_freq(cfg)
    x = W["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"], eps)
        lin = lambda name, v: v @ W[p + name + ".weight"].T + W.get(p + name + ".bias", 0.0)
        q, k, v = lin("self_attn.q_proj", h), lin("self_attn.k_proj", h), lin("self_attn.v_proj", h)
        heads = []
        for hh in range(H):
            g = hh // (H // Hkv)
            qh, kh, vh = q[:, hh * D:(hh + 1) * D], k[:, g * D:(g + 1) * D], v[:, g * D:(g + 1) * D]
            if mt == "qwen3":
                qh = rms(qh, W[p + "self_attn.q_norm.weight"], eps)
                kh = rms(kh, W[p + "self_attn.k_norm.weight"], eps)
            qh, kh = rope(qh, pos, f), rope(kh, pos, f)
            s = qh @ kh.T / math.sqrt(D)
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ vh)
        x = x + lin("self_attn.o_proj", np.concatenate(heads, -1))
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        gate, up = lin("mlp.gate_proj", h), lin("mlp.up_proj", h)
        x = x + lin("mlp.down_proj", gate / (1 + np.exp(-gate)) * up)
    x = rms(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T
