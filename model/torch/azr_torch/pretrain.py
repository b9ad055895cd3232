"""Pretraining the tiny base model with PyTorch: the `--engine torch` path of `azr base-model`, and
the whole job on a GPU machine that has no Node.js (it needs only torch and numpy).

    python3 -m azr_torch.pretrain --tokens DIR --config config.json --out DIR --work-dir DIR
        [--steps N | --seconds S] [--batch-tokens 131072] [--lr 3e-3] [--warmup 200] [--resume]

Reads the token files of actors/base-model/export-tokens.ts (ids, per-token loss-weight codes,
example lengths). One readable path from tokens to loss, the same objective as the ORT loop
(actors/base-model/pretrain.ts): each example its own row starting at position 0, predict ids[1:],
loss = sum(w * CE) / sum(w) over the step, AdamW (0.9, 0.999, wd 0.01), clip 1.0, linear warm-up
then cosine to 10%. What differs is scale: a GPU step holds ~10^5 tokens, rows are right-padded
(causal attention never looks right, so padding changes nothing) and grouped by length within
windows of the curriculum order so padding stays small.

`--seconds S` measures the speed over the warm-up and fixes the step count that fits S; it prints
that count, and `--steps N` reproduces the run. A checkpoint (model, optimiser, step, the
schedule) is written every --save-every steps and at the end; `--resume` continues from it.
Progress lines go to stdout; the finished model (config.json + model.safetensors, fp32, Hugging
Face names) goes to --out, loadable by the ORT and torch engines alike.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .loading import state_for_save
from .modeling import HAVE_SDPA, CausalLM, ModelConfig, apply_rope, attend, causal_keep, rope_cos_sin
from .safetensors_io import save_checkpoint

HELD_OUT_EXAMPLES = 2048  # a fixed random slice for validation loss (never trained on); at most a tenth
PROBE_FROM = 10  # --seconds: the speed probe starts after this many steps
PAD_TO = 32  # row lengths are rounded up to this: few distinct shapes, little padding


# ----------------------------------------------------------------------------- data


def fsync_dir(path: str) -> None:
    """Flush a folder entry (a rename in it), where the filesystem allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network and FUSE mounts refuse fsync on a folder
    finally:
        os.close(fd)


def read_tokens(folder: str):
    with open(os.path.join(folder, "tokens.json")) as f:
        meta = json.load(f)

    def arr(name, dtype):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing: export the corpus first (actors/base-model/export-tokens.ts)")
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), dtype=dtype)

    ids = arr("ids.u16.gz", "<u2").astype(np.int64)
    codes = arr("weights.u8.gz", np.uint8)
    lengths = arr("lengths.u32.gz", "<u4").astype(np.int64)
    if ids.size != meta["tokens"] or lengths.size != meta["examples"] or int(lengths.sum()) != ids.size or codes.size != ids.size:
        raise ValueError(f"{folder}: token files disagree with tokens.json (truncated copy?); export them again")
    weights = np.asarray(meta["weightTable"], dtype=np.float32)[codes]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return meta, ids, weights, starts, lengths


def batches_for_epoch(examples: np.ndarray, lengths: np.ndarray, batch_tokens: int, epoch: int, seed: int, window_batches: int = 32):
    """Lists of example indices, each padded to its longest (rounded up to 32) within batch_tokens.
    Epoch 0 keeps the curriculum order at the scale of a window; later epochs are shuffled."""
    rng = np.random.default_rng(seed * 1000003 + epoch)
    order = examples if epoch == 0 else rng.permutation(examples)
    window = max(1, int(window_batches * batch_tokens / max(1.0, float(lengths[examples].mean()))))
    out = []
    for w in range(0, len(order), window):
        chunk = order[w : w + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches, cur, longest = [], [], 0
        for e in chunk:
            padded = -(-max(longest, int(lengths[e])) // PAD_TO) * PAD_TO
            if cur and padded * (len(cur) + 1) > batch_tokens:
                batches.append(cur)
                cur, longest = [], 0
            cur.append(int(e))
            longest = max(longest, int(lengths[e]))
        if cur:
            batches.append(cur)
        rng.shuffle(batches)
        out.extend(batches)
    return out


def make_batch(idx, ids, weights, starts, lengths, device):
    T = -(-int(lengths[idx].max()) // PAD_TO) * PAD_TO
    x = np.zeros((len(idx), T), dtype=np.int64)
    w = np.zeros((len(idx), T), dtype=np.float32)
    for r, e in enumerate(idx):
        s, n = starts[e], lengths[e]
        x[r, :n] = ids[s : s + n]
        w[r, :n] = weights[s : s + n]
    real = int(lengths[idx].sum())  # counted here: reading it back from the GPU would wait for the step
    return torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(w).to(device, non_blocking=True), real


# ----------------------------------------------------------------------------- model


def causal_forward(model: CausalLM, ids: torch.Tensor) -> torch.Tensor:
    """Final hidden states for right-padded rows; causal attention only (SDPA's fused kernels)."""
    B, T = ids.shape
    cfg = model.cfg
    H, Hkv, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    x = model.model.embed_tokens(ids)
    positions = torch.arange(T, device=ids.device)[None].expand(B, T)
    cos, sin = rope_cos_sin(model.inv_freq, positions, x.dtype)
    for layer in model.model.layers:
        a = layer.self_attn
        h = layer.input_layernorm(x)
        q = a.q_proj(h).view(B, T, H, D)
        k = a.k_proj(h).view(B, T, Hkv, D)
        v = a.v_proj(h).view(B, T, Hkv, D).transpose(1, 2)
        if cfg.qk_norm:
            q, k = a.q_norm(q), a.k_norm(k)
        q = apply_rope(q.transpose(1, 2), cos, sin)
        k = apply_rope(k.transpose(1, 2), cos, sin)
        if HAVE_SDPA:  # torch >= 2.0: fused causal kernels; key/value heads repeated (tiny tensors)
            if Hkv != H:
                k = k.repeat_interleave(H // Hkv, dim=1)
                v = v.repeat_interleave(H // Hkv, dim=1)
            y = F.scaled_dot_product_attention(q.to(v.dtype), k.to(v.dtype), v, is_causal=True)  # RoPE'd q/k are fp32 under autocast
        else:  # Debian's torch 1.13 (CPU tests)
            y = attend(q.to(v.dtype), k.to(v.dtype), v, causal_keep(T, ids.device))
        x = x + a.o_proj(y.transpose(1, 2).reshape(B, T, H * D))
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.model.norm(x)


def weighted_loss(model: CausalLM, ids: torch.Tensor, w: torch.Tensor):
    """(sum of w * CE over predicted tokens, sum of w): each row predicts ids[1:] from ids[:-1]."""
    h = causal_forward(model, ids[:, :-1])
    logits = model.logits(h)  # fp32
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    wt = w[:, 1:].reshape(-1)
    return (ce * wt).sum(), wt.sum()


def init_weights(model: CausalLM, seed: int) -> None:
    """Normal(0, 0.02) for every matrix, embedding and bias; norms at 1 (as the ORT loop's randomWeights)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def lr_at(step: int, total: int, peak: float, warmup: int, min_ratio: float = 0.1) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------- loop


def evaluate(model, batches, data, device, autocast):
    model.eval()
    num = den = 0.0
    with torch.no_grad(), autocast():
        for idx in batches:
            x, w, _ = make_batch(idx, *data, device)
            n, d = weighted_loss(model, x, w)
            num += float(n)
            den += float(d)
    model.train()
    return num / max(den, 1e-9)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", required=True, help="folder of export-tokens.ts output")
    p.add_argument("--config", required=True, help="Hugging Face config.json of the model to train from scratch")
    p.add_argument("--out", required=True, help="where config.json + model.safetensors go")
    p.add_argument("--work-dir", required=True, help="checkpoint and progress (for --resume)")
    p.add_argument("--steps", type=int, default=0, help="optimiser steps (the schedule's length)")
    p.add_argument("--seconds", type=float, default=0, help="instead of --steps: as many steps as fit (measured after 30 steps)")
    p.add_argument("--batch-tokens", type=int, default=131072, help="padded tokens per optimiser step")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--resume", action="store_true")
    a = p.parse_args(argv)
    if (a.steps > 0) == (a.seconds > 0) and not a.resume:
        p.error("give exactly one of --steps N or --seconds S")
    log = lambda s: print(s, flush=True)  # noqa: E731

    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else (lambda: torch.autocast("cpu", enabled=False))

    meta, ids, weights, starts, lengths = read_tokens(a.tokens)
    data = (ids, weights, starts, lengths)
    with open(a.config) as f:
        raw_config = json.load(f)
    raw_config = {**raw_config, "vocab_size": meta["vocab"], "eos_token_id": meta["eos"], "torch_dtype": "float32"}
    cfg = ModelConfig.from_hf(raw_config)
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(meta["examples"])
    n_held = min(HELD_OUT_EXAMPLES, meta["examples"] // 10)
    held = np.sort(perm[:n_held])
    train = np.sort(perm[n_held:])
    val_batches = batches_for_epoch(held, lengths, a.batch_tokens, 0, a.seed)

    model = CausalLM(cfg, device=device)
    init_weights(model, a.seed)
    params = [p for p in model.parameters()]
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay, **fused)
    n_params = sum(p.numel() for p in params)

    os.makedirs(a.work_dir, exist_ok=True)
    ckpt_path = os.path.join(a.work_dir, "checkpoint.pt")
    state = {"step": 0, "tokens": 0, "seconds": 0.0, "total": a.steps, "epoch": 0, "in_epoch": 0}
    if a.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        state = ck["state"]
        moved = ""
        if a.steps > 0 and a.steps != state["total"]:  # a longer (or shorter) plan moves the cosine's horizon
            moved = f" (schedule moved from {state['total']} to {a.steps} steps)"
            state["total"] = a.steps
        log(f"resumed at step {state['step']}/{state['total']}{moved}")
    else:
        log(f"new model: {n_params} parameters ({cfg.num_hidden_layers} layers x {cfg.hidden_size}); "
            f"{meta['examples']} examples, {meta['tokens']} tokens ({len(held)} examples held out for validation); device {device}")

    def save():
        tmp = ckpt_path + ".partial"
        with open(tmp, "wb") as f:
            torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "state": state}, f)
            # on the disk before the rename: after an OS crash the resume point must not read back as zeros
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, ckpt_path)
        fsync_dir(os.path.dirname(os.path.abspath(ckpt_path)))

    # Ctrl-C / SIGTERM: finish the step in flight, checkpoint it, exit 128 + the signal's number. The
    # driver (pretrain-torch.ts) forwards the signal it gets, so a terminal's Ctrl-C can arrive twice
    # at once: only a later second signal quits without saving.
    stop = {"sig": None, "at": 0.0}

    def on_signal(signum, _frame):
        if stop["sig"] is not None:
            if time.time() - stop["at"] > 2.0:
                os._exit(128 + signum)
            return
        stop["sig"], stop["at"] = signum, time.time()
        log(f"{signal.Signals(signum).name}: checkpointing after the step in flight, then stopping (send it again to quit without saving)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    # From here a signal is caught (the first step-N line comes only at step 50).
    log(f"training from step {state['step']}: Ctrl-C or SIGTERM checkpoints the step in flight and stops")

    epoch_batches = batches_for_epoch(train, lengths, a.batch_tokens, state["epoch"], a.seed)
    t_start = time.time() - state["seconds"]
    ema = float("nan")
    probe_start = 0.0
    # Until the warm-up ends the rate does not depend on the schedule's length, so --seconds probes
    # the speed over the whole warm-up (an H100 run's first 30 steps were 1.7x slower than the rest:
    # each new padded length picks its kernels once).
    probe_to = max(PROBE_FROM + 20, -(-a.warmup // 10) * 10)
    model.train()
    while state["total"] == 0 or state["step"] < state["total"]:
        if state["in_epoch"] >= len(epoch_batches):
            state["epoch"] += 1
            state["in_epoch"] = 0
            epoch_batches = batches_for_epoch(train, lengths, a.batch_tokens, state["epoch"], a.seed)
        x, w, real = make_batch(epoch_batches[state["in_epoch"]], *data, device)
        # --seconds: until the probe fixes the length, a far horizon (the warm-up does not depend on it)
        lr = lr_at(state["step"], state["total"] or 10**9, a.lr, a.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        with autocast():
            num, den = weighted_loss(model, x, w)
            loss = num / den
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] += 1
        state["in_epoch"] += 1
        state["tokens"] += real
        if state["step"] % 10 == 0 or state["step"] == state["total"]:
            lv = float(loss.detach())  # a logged number, no autograd (torch 2.x warned)
            ema = lv if math.isnan(ema) else 0.9 * ema + 0.1 * lv
            state["seconds"] = time.time() - t_start
            if state["total"] == 0 and state["step"] == PROBE_FROM:
                probe_start = state["seconds"]  # the first steps include kernel selection and allocator growth
            if state["total"] == 0 and state["step"] == probe_to:
                # Speed probe: the rest of the budget at this rate fixes the schedule's length.
                per_step = (state["seconds"] - probe_start) / (probe_to - PROBE_FROM)
                state["total"] = max(a.warmup + 10, probe_to + int((a.seconds - state["seconds"]) / per_step))
                log(f"schedule fixed at {state['total']} steps ({per_step * 1000:.0f} ms/step); reproduce with --steps {state['total']}")
            if state["step"] % 50 == 0 or state["step"] == state["total"]:
                rate = state["tokens"] / state["seconds"]
                eta = state["seconds"] / state["step"] * (max(state["total"], state["step"]) - state["step"])
                log(f"step {state['step']}/{state['total']}  epoch {state['epoch']}  loss {ema:.4f}  lr {lr:.2e}  "
                    f"{rate:,.0f} tok/s  elapsed {state['seconds'] / 60:.1f} min  ETA {eta / 60:.1f} min")
        if state["step"] % a.save_every == 0 or stop["sig"] is not None:
            state["seconds"] = time.time() - t_start
            save()
        if stop["sig"] is not None:
            log(f"stopped by {signal.Signals(stop['sig']).name} at step {state['step']}/{state['total']}: checkpoint saved in {ckpt_path}; continue with --resume")
            return 128 + stop["sig"]
    state["seconds"] = time.time() - t_start
    save()
    val = evaluate(model, val_batches, data, device, autocast)
    os.makedirs(a.out, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in state_for_save(model).items()}
    save_checkpoint(tensors, a.out)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(raw_config, f, indent=2)
        f.write("\n")
    summary = {"step": state["step"], "totalSteps": state["total"], "epochs": state["epoch"] + state["in_epoch"] / max(1, len(epoch_batches)),
               "tokens": state["tokens"], "seconds": round(state["seconds"], 1), "loss": ema, "validationLoss": val,
               "batchTokens": a.batch_tokens, "lr": a.lr, "warmup": a.warmup, "seed": a.seed, "parameters": n_params,
               "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "torch": torch.__version__}
    with open(os.path.join(a.out, "pretraining.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(f"validation loss {val:.4f}; model written to {a.out}: " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
