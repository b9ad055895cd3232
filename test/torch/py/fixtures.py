"""Random tiny Hugging Face model folders for the torch engine's tests.

Writes config.json, weights as safetensors (with the test's own writer, independent of azr's
reader: numpy bytes + struct header), optionally sharded with model.safetensors.index.json, and a
byte-level tokenizer.json whose 256 first ids are the 256 bytes (so text is checkable).
Usage: python3 fixtures.py <out_dir> <qwen2|llama|qwen3> [--shards N] [--seed S] [--bf16]
"""
from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np

VOCAB = 300  # 256 byte tokens + specials + unused ids
EOS = 257


def config_for(arch: str) -> dict:
    base = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=512, eos_token_id=EOS,
                bos_token_id=256, torch_dtype="float32")
    if arch == "qwen2":
        return dict(base, model_type="qwen2", architectures=["Qwen2ForCausalLM"], rope_theta=1e6, tie_word_embeddings=True)
    if arch == "llama":
        return dict(base, model_type="llama", architectures=["LlamaForCausalLM"], rope_theta=5e5, tie_word_embeddings=False,
                    attention_bias=False, mlp_bias=False,
                    # short original context so the llama3 blend touches low, medium and high frequencies
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=64))
    if arch == "qwen3":
        # head_dim deliberately != hidden_size / heads, as in Qwen3
        return dict(base, model_type="qwen3", architectures=["Qwen3ForCausalLM"], rope_theta=1e6, tie_word_embeddings=True,
                    head_dim=24, attention_bias=False)
    raise SystemExit(f"unknown arch {arch}")


def random_weights(cfg: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    w = lambda *s: (rng.standard_normal(s) * 0.08).astype(np.float32)
    wqk = lambda *s: (rng.standard_normal(s) * 0.25).astype(np.float32)  # peaked attention: position errors show
    norm = lambda n: (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)
    out = {"model.embed_tokens.weight": w(V, C), "model.norm.weight": norm(C)}
    if not cfg["tie_word_embeddings"]:
        out["lm_head.weight"] = w(V, C)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        out.update({p + "self_attn.q_proj.weight": wqk(H * D, C), p + "self_attn.k_proj.weight": wqk(Hkv * D, C),
                    p + "self_attn.v_proj.weight": w(Hkv * D, C), p + "self_attn.o_proj.weight": w(C, H * D),
                    p + "mlp.gate_proj.weight": w(I, C), p + "mlp.up_proj.weight": w(I, C), p + "mlp.down_proj.weight": w(C, I),
                    p + "input_layernorm.weight": norm(C), p + "post_attention_layernorm.weight": norm(C)})
        if cfg["model_type"] == "qwen2":
            out.update({p + "self_attn.q_proj.bias": w(H * D), p + "self_attn.k_proj.bias": w(Hkv * D), p + "self_attn.v_proj.bias": w(Hkv * D)})
        if cfg["model_type"] == "qwen3":
            out.update({p + "self_attn.q_norm.weight": norm(D), p + "self_attn.k_norm.weight": norm(D)})
    return out


def write_safetensors(tensors: dict, path: str, bf16: bool = False) -> None:
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if bf16:  # round-to-nearest-even to bf16 bits
            bits = a.view(np.uint32)
            raw = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)).tobytes()
        else:
            raw = a.astype("<f4").tobytes()
        header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bytes_to_unicode() -> dict:
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer_json() -> dict:
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for i in range(258, VOCAB):  # unused ids: multi-byte pieces so decode of any id is defined
        vocab[b2u[97 + i % 26] + b2u[97 + (i * 7) % 26]] = i
    special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [special(256, "<|bos|>"), special(EOS, "<|eos|>")],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": []}}


def make_model_dir(out: str, arch: str, shards: int = 1, seed: int = 0, bf16: bool = False) -> dict:
    os.makedirs(out, exist_ok=True)
    cfg = config_for(arch)
    weights = random_weights(cfg, seed)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f)
    names = sorted(weights)
    if shards <= 1:
        write_safetensors(weights, os.path.join(out, "model.safetensors"), bf16)
    else:
        weight_map = {}
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: weights[n] for n in names[s::shards]}
            write_safetensors(part, os.path.join(out, fname), bf16)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return {"config": cfg, "weights": weights}


if __name__ == "__main__":
    args = sys.argv[1:]
    get = lambda flag, d: type(d)(args[args.index(flag) + 1]) if flag in args else d
    make_model_dir(args[0], args[1], shards=get("--shards", 1), seed=get("--seed", 0), bf16="--bf16" in args)
