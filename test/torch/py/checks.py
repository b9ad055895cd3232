"""Python-side checks of azr_torch, run by test/torch/model.test.ts (one JSON line per check).

Each check attacks one property: logits equal an independent NumPy reference per architecture;
a sharded and a bf16 checkpoint load; transformers' own model agrees (only where transformers is
importable; reported as skipped otherwise); KV-cache decode equals full recompute; a saved
checkpoint reloads to the same logits; LoRA save/load round-trips and a fresh adapter is a no-op.
Usage: PYTHONPATH=model/torch python3 test/torch/py/checks.py [check ...]
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import fixtures  # noqa: E402
import reference  # noqa: E402
from azr_torch import lora as lora_mod  # noqa: E402
from azr_torch.generation import GenOptions, Generator  # noqa: E402
from azr_torch.loading import load_model  # noqa: E402
from azr_torch.engine import Engine  # noqa: E402

torch.set_num_threads(int(os.environ.get("AZR_TEST_THREADS", "1")))
TMP = tempfile.mkdtemp(prefix="azr-torch-checks-")
atexit.register(shutil.rmtree, TMP, True)
# different lengths so padding is exercised; one long enough (200) that RoPE's low frequencies and
# the llama3 rescaling of them change the logits measurably
SEQS = [[256, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100], [256, 7, 99, 280, 3],
        [256] + [int(x) for x in np.random.default_rng(7).integers(0, 300, 199)]]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def batch_logits(model, seqs):
    T = max(map(len, seqs))
    ids = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    with torch.no_grad():
        out = model(ids, torch.tensor([len(s) for s in seqs]))
    return [out[i, : len(s)].double().numpy() for i, s in enumerate(seqs)]


def check_reference(arch: str, shards: int = 1, bf16: bool = False):
    d = os.path.join(TMP, f"{arch}-{shards}-{bf16}")
    fx = fixtures.make_model_dir(d, arch, shards=shards, seed=1, bf16=bf16)
    W = fx["weights"]
    if bf16:  # the reference sees exactly the rounded weights the checkpoint holds
        W = {k: torch.from_numpy(v).to(torch.bfloat16).float().numpy() for k, v in W.items()}
    _, model = load_model(d, torch.device("cpu"), torch.float32)
    got = batch_logits(model, SEQS)
    errs = [rel_err(g, reference.logits(fx["config"], W, s)) for g, s in zip(got, SEQS)]
    return max(errs) <= 2e-5, {"maxRelErr": max(errs)}  # fp32 vs float64 measures ~3e-6; a 10% error in one RoPE frequency gives 4e-3


def check_transformers(arch: str):
    try:
        import transformers  # noqa: F401
    except ImportError:
        return None, {"skipped": "transformers is not importable here (it is on the GPU machine)"}
    from transformers import AutoModelForCausalLM

    d = os.path.join(TMP, f"hf-{arch}")
    fixtures.make_model_dir(d, arch, seed=2)
    _, model = load_model(d, torch.device("cpu"), torch.float32)
    hf = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    ids = torch.tensor([SEQS[0]])
    with torch.no_grad():
        ref = hf(ids).logits[0].double().numpy()
    got = batch_logits(model, SEQS[:1])[0]
    err = rel_err(got, ref)
    return err <= 1e-4, {"maxRelErr": err, "transformers": transformers.__version__}


def greedy_full_recompute(model, prompt, n, eos):
    seq = list(prompt)
    for _ in range(n):
        with torch.no_grad():
            nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
        seq.append(nxt)
        if nxt in eos:
            break
    return seq[len(prompt):]


def check_kv_cache():
    d = os.path.join(TMP, "kv")
    fixtures.make_model_dir(d, "qwen3", seed=3)
    _, model = load_model(d, torch.device("cpu"), torch.float32)
    prompts = [[256, 5, 9, 13], [256, 40, 41], [256, 1, 2, 3, 4, 5, 6, 7], [256, 99]]
    gen = Generator(model, None, [])  # no eos: every sequence runs the full length
    by_batch = {}
    for mb in (1, 3):  # maxBatch 3 < 4 prompts: the 4th joins when a slot frees (continuous batching)
        outs = {o["index"]: o["tokens"] for o in gen.run(prompts, GenOptions(max_new_tokens=12, max_batch=mb))}
        by_batch[mb] = [outs[i] for i in range(len(prompts))]
    full = [greedy_full_recompute(model, p, 12, set()) for p in prompts]
    ok = by_batch[1] == full and by_batch[3] == full
    return ok, {"cached": by_batch[3], "full": full}


def check_finished_leave_batch():
    """Sequences that finish early stop costing compute: with no prompt waiting, each eager decode
    step runs exactly the live rows (slots are compacted), and the tokens still equal a full recompute."""
    import azr_torch.generation as G

    d = os.path.join(TMP, "leave")
    fixtures.make_model_dir(d, "qwen2", seed=8)
    _, model = load_model(d, torch.device("cpu"), torch.float32)
    prompts = [[256, 5, 9, 13], [256, 40, 41], [256, 1, 2, 3, 4, 5, 6, 7], [256, 99], [256, 17, 18]]
    free_run = [greedy_full_recompute(model, p, 10, set()) for p in prompts]
    # eos = a token the second and fourth sequences emit early: they finish first, from low slots
    eos = {free_run[1][2], free_run[3][1]}
    full = [greedy_full_recompute(model, p, 10, eos) for p in prompts]
    rows = []
    real = G._eager_decode
    G._eager_decode = lambda m, ck, cv, toks, pos, dev: (rows.append(len(toks)), real(m, ck, cv, toks, pos, dev))[1]
    try:
        outs = {o["index"]: o["tokens"] for o in Generator(model, None, sorted(eos)).run(prompts, GenOptions(max_new_tokens=10, max_batch=5))}
    finally:
        G._eager_decode = real
    got = [outs[i] for i in range(len(prompts))]
    live = [sum(1 for t in got if len(t) >= j + 1) for j in range(1, max(map(len, got)))]  # decode step j makes token j+1
    return got == full and rows == live, {"tokens": got, "full": full, "rowsPerStep": rows, "liveSequences": live}


def check_equal_prompts_prefilled_once():
    """Equal prompts are prefilled once, whether their copies join in the same admission or later
    ones (kept while a copy waits), and each copy samples as it would alone."""
    d = os.path.join(TMP, "shared")
    fixtures.make_model_dir(d, "qwen2", seed=5)
    _, model = load_model(d, torch.device("cpu"), torch.float32)
    p, q = [256, 5, 9, 13, 7], [256, 40, 41]
    prompts = [p, q, p, p, q, p]
    gen = Generator(model, None, [])
    prefilled = []  # prompt rows of each prefill (every prompt here has 2+ tokens; a decode step has 1)
    real = model.hidden_states
    model.hidden_states = lambda ids, *a: (prefilled.append(ids.shape[0]) if ids.shape[1] > 1 else None, real(ids, *a))[1]
    try:
        runs = {}
        for mb in (6, 3, 1):
            prefilled.clear()
            outs = {o["index"]: o["tokens"] for o in gen.run(prompts, GenOptions(max_new_tokens=6, temperature=1.0, seed=9, max_batch=mb))}
            runs[mb] = ([outs[i] for i in range(len(prompts))], list(prefilled))
        alone = [next(gen.run([pr], GenOptions(max_new_tokens=6, temperature=1.0, seed=9, first_index=i)))["tokens"] for i, pr in enumerate(prompts)]
    finally:
        del model.hidden_states
    tokens = runs[6][0]
    ok = (runs[6][1] == [2] and runs[3][1] == [2] and runs[1][1] == [1, 1]
          and all(r[0] == tokens for r in runs.values()) and tokens == alone and tokens[0] != tokens[2])
    return ok, {"prefillRows": {mb: r[1] for mb, r in runs.items()}, "tokens": {mb: r[0] for mb, r in runs.items()}, "alone": alone}


def check_save_reload():
    d = os.path.join(TMP, "save-src")
    fixtures.make_model_dir(d, "llama", seed=4)
    e = Engine({"modelDir": d, "device": "cpu"})
    out = os.path.join(TMP, "save-out")
    e.save({"dir": out, "maxShardBytes": 60_000})  # small shards: the index path is written and read back
    _, again = load_model(out, torch.device("cpu"), torch.float32)
    a, b = batch_logits(e.model, SEQS), batch_logits(again, SEQS)
    sharded = os.path.exists(os.path.join(out, "model.safetensors.index.json"))
    return sharded and all(np.array_equal(x, y) for x, y in zip(a, b)), {"sharded": sharded, "files": len(os.listdir(out))}


def check_lora_roundtrip():
    d = os.path.join(TMP, "lora-base")
    fixtures.make_model_dir(d, "qwen2", seed=5)
    e = Engine({"modelDir": d, "device": "cpu", "lora": {"rank": 4, "alpha": 8, "targetModules": ["q_proj", "v_proj", "down_proj"]}, "seed": 1})
    base_logits = batch_logits(e.model, SEQS)
    _, plain = load_model(d, torch.device("cpu"), torch.float32)
    fresh_is_noop = all(np.array_equal(x, y) for x, y in zip(base_logits, batch_logits(plain, SEQS)))
    with torch.no_grad():  # give the adapters non-zero B so they matter
        for m in lora_mod.lora_modules(e.model):
            m.lora_B.weight.normal_(0, 0.05)
    tuned = batch_logits(e.model, SEQS)
    out = os.path.join(TMP, "adapter")
    e.save({"dir": out})
    with open(os.path.join(out, "adapter_config.json")) as f:
        cfg = json.load(f)
    e2 = Engine({"modelDir": d, "device": "cpu", "lora": {"adapterDir": out}})
    reloaded = batch_logits(e2.model, SEQS)
    lora_mod.set_adapters_enabled(e2.model, False)
    off = batch_logits(e2.model, SEQS)
    ok = (fresh_is_noop and cfg["r"] == 4 and cfg["target_modules"] == ["down_proj", "q_proj", "v_proj"]
          and all(np.array_equal(x, y) for x, y in zip(tuned, reloaded))
          and all(np.array_equal(x, y) for x, y in zip(off, base_logits))
          and max(rel_err(x, y) for x, y in zip(tuned, base_logits)) > 1e-3)
    return ok, {"freshIsNoop": fresh_is_noop, "peftConfig": {k: cfg[k] for k in ("r", "lora_alpha", "target_modules")}}


def check_gradient_checkpointing():
    """Recomputing activations in backward must not change the gradients (LoRA on a frozen base too)."""
    d = os.path.join(TMP, "gc")
    fixtures.make_model_dir(d, "llama", seed=6)
    from azr_torch.training import response_logprobs

    grads = {}
    for lora in (None, {"rank": 2, "alpha": 4}):
        for gc in (False, True):
            e = Engine({"modelDir": d, "device": "cpu", "lora": lora, "seed": 0})
            e.model.train()
            e.model.gradient_checkpointing = gc
            logps, _ = response_logprobs(e.model, [s[:4] for s in SEQS], [s[4:] for s in SEQS])
            torch.stack([lp.sum() for lp in logps]).sum().backward()
            grads[(lora is not None, gc)] = {n: p.grad.clone() for n, p in e.model.named_parameters() if p.grad is not None}
    worst = 0.0
    for lora in (False, True):
        a, b = grads[(lora, False)], grads[(lora, True)]
        if set(a) != set(b) or not a:
            return False, {"error": f"gradient sets differ (lora={lora})"}
        worst = max(worst, max(float((a[n] - b[n]).abs().max() / (a[n].abs().max() + 1e-12)) for n in a))
    return worst <= 1e-5, {"maxRelErr": worst}


def check_logits_chunking():
    """Log-probs, entropies and their gradients do not depend on the lm_head chunk size."""
    import azr_torch.training as T

    d = os.path.join(TMP, "chunk")
    fixtures.make_model_dir(d, "qwen2", seed=7)
    out = {}
    for size in (T.LOGITS_CHUNK, 7):  # 7 < tokens: several checkpointed chunks, one ragged
        T.LOGITS_CHUNK, saved = size, T.LOGITS_CHUNK
        try:
            e = Engine({"modelDir": d, "device": "cpu"})
            lps, ents = T.response_logprobs(e.model, [s[:3] for s in SEQS], [s[3:] for s in SEQS], True)
            (torch.cat(lps).sum() + torch.cat(ents).sum()).backward()
            out[size] = (torch.cat(lps).detach(), torch.cat(ents).detach(), e.model.model.embed_tokens.weight.grad.clone())
        finally:
            T.LOGITS_CHUNK = saved
    (a, b) = out.values()
    worst = max(float((x - y).abs().max() / (y.abs().max() + 1e-12)) for x, y in zip(a, b))
    return worst <= 1e-6, {"maxRelErr": worst}


CHECKS = {
    "reference qwen2": lambda: check_reference("qwen2"),
    "reference llama (llama3 rope, untied)": lambda: check_reference("llama"),
    "reference qwen3 (q/k norm, head_dim 24)": lambda: check_reference("qwen3"),
    "reference qwen2, 3 shards": lambda: check_reference("qwen2", shards=3),
    "reference llama, bf16 checkpoint": lambda: check_reference("llama", bf16=True),
    "transformers qwen2": lambda: check_transformers("qwen2"),
    "transformers llama": lambda: check_transformers("llama"),
    "transformers qwen3": lambda: check_transformers("qwen3"),
    "kv cache decode equals full recompute": check_kv_cache,
    "finished sequences leave the batch": check_finished_leave_batch,
    "equal prompts are prefilled once": check_equal_prompts_prefilled_once,
    "saved checkpoint reloads": check_save_reload,
    "lora save/load round-trips": check_lora_roundtrip,
    "gradient checkpointing keeps gradients": check_gradient_checkpointing,
    "lm_head chunking keeps log-probs and gradients": check_logits_chunking,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CHECKS)
    for name in names:
        t0 = time.time()
        try:
            ok, detail = CHECKS[name]()
        except Exception:  # noqa: BLE001 - a crash is a failed check with its traceback
            ok, detail = False, {"error": traceback.format_exc()}
        print(json.dumps({"name": name, "ok": ok, "detail": detail, "seconds": round(time.time() - t0, 2)}), flush=True)
