"""Independent reference forward pass for the parity tests (PyTorch, float64).

Reads a Hugging Face model directory (config.json + model.safetensors, parsed here with numpy)
and prints the logits of each given token sequence, computed one sequence at a time with no
padding. Written from the architecture descriptions, sharing no code with azr's graphs.
stdin: {"dir": str, "sequences": [[int]]}; stdout: {"logits": [[[float]]]} (seq, pos, vocab).
"""
import json, math, struct, sys
import numpy as np
import torch

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif t["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(t["dtype"])
        out[name] = torch.tensor(arr.reshape(t["shape"]).astype(np.float64))
    return out

def rope_inv_freq(cfg, dim):
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > old / lo, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        mid = (wl <= old / lo) & (wl >= old / hi)
        inv = torch.where(mid, (1 - smooth) * inv / factor + smooth * inv, scaled)
    return inv

def rms(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

def rotate(x, cos, sin):
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

def forward(cfg, W, ids):
    T = len(ids)
    H, Hkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    qwen3 = cfg["model_type"] == "qwen3"
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * rope_inv_freq(cfg, D)[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)  # (T, D/2)
    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"], eps)
        def proj(n):
            y = h @ W[p + f"self_attn.{n}_proj.weight"].T
            b = W.get(p + f"self_attn.{n}_proj.bias")
            return y + b if b is not None else y
        q = proj("q").view(T, H, D).transpose(0, 1)
        k = proj("k").view(T, Hkv, D).transpose(0, 1)
        v = proj("v").view(T, Hkv, D).transpose(0, 1)
        if qwen3:
            q = rms(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, W[p + "self_attn.k_norm.weight"], eps)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(H // Hkv, 0)
        v = v.repeat_interleave(H // Hkv, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + mask, -1) @ v  # (H, T, D)
        x = x + att.transpose(0, 1).reshape(T, H * D) @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        up = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T

def main():
    req = json.load(sys.stdin)
    cfg = json.load(open(req["dir"] + "/config.json"))
    W = read_safetensors(req["dir"] + "/model.safetensors")
    logits = [forward(cfg, W, s).tolist() for s in req["sequences"]]
    json.dump({"logits": logits}, sys.stdout)

main()
