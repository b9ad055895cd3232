"""GPU smoke + parity + timing script for azr's torch engine, runnable in one call on a GPU machine:

    PYTHONPATH=model/torch python3 model/torch/gpu_smoke.py [--out DIR] [--quick]

Covers, printing one JSON line per result (and writing DIR/gpu_smoke.json):
1. test/torch/py/checks.py on this torch (CPU fp32; includes transformers parity when importable);
2. parity on the GPU for random Qwen2 / Llama 3 / Qwen3 fixtures: ours cuda fp32 (TF32 off) vs ours
   CPU fp32 and vs transformers cuda fp32 (<= 1e-4), ours bf16 vs transformers bf16 (bound 3e-2:
   bf16 keeps 8 mantissa bits, 2^-8 = 3.9e-3 per rounding; two implementations that round at
   different points drift by a few of those per layer. Measured 2026-11-26 on an H100: 0.0, the
   same kernels in the same order; bf16 vs fp32 of either is ~6e-2, reported as bf16VsFp32);
3. KV-cache greedy decode == full recompute on the GPU (SDPA path), with and without CUDA graphs;
4. a random 0.5B Qwen2-shaped model (Qwen2.5-0.5B dimensions) in bf16: load time, decode
   tokens/s at batch 1 and 64 vs transformers' generate, a train step's tokens/s (fp32 master
   weights, bf16 autocast, AdamW) vs a plain transformers + AdamW loop, and the time to move all
   weights learner -> rollout engine through the engine's get/set_weights (fp32 bytes, no pipe);
5. (train variants) LoRA on the bf16 0.5B base with gradient checkpointing, adapter save -> reload,
   and full fine-tuning on 16 x 4096-token sequences (peak memory with the chunked lm_head).
6. (workers) the rollout -> learner -> weight-sync-file -> rollout path through real worker processes,
   full fine-tuning and LoRA (gpu_smoke_workers.py);
7. (tp) tensor-parallel rollout ranks on the one GPU: one NCCL rank with CUDA graphs, two gloo ranks (gpu_smoke_workers.py);
8. FSDP (fsdp.py) as one NCCL rank through the Engine against a plain engine: the CUDA-only paths
   (sync_module_states, gathers to rank 0 offloaded to host memory, optimiser state round trip);
   several ranks are tested on CPU (test/torch/fsdp.test.ts, `make test-torch-next`).
Not: several GPUs, torch.compile (not implemented in the engine).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "torch", "py"))

from azr_torch.engine import Engine  # noqa: E402
from azr_torch.generation import GenOptions, Generator  # noqa: E402
from azr_torch.loading import load_model  # noqa: E402
from azr_torch.modeling import CausalLM, ModelConfig  # noqa: E402
from azr_torch.safetensors_io import save_checkpoint  # noqa: E402

RESULTS = []
STREAM = None  # DIR/gpu_smoke.jsonl, appended per result so a run stopped at its time limit keeps what it measured


def emit(name, **kw):
    row = {"name": name, **kw}
    RESULTS.append(row)
    print(json.dumps(row), flush=True)
    if STREAM is not None:
        STREAM.write(json.dumps(row) + "\n")
        STREAM.flush()


def section(name):
    def wrap(fn):
        def run(*a, **k):
            t0 = time.time()
            try:
                fn(*a, **k)
            except Exception:  # noqa: BLE001 - report and go on to the next section
                emit(name, ok=False, error=traceback.format_exc()[-3000:])
            emit(name + " (section seconds)", seconds=round(time.time() - t0, 1))
        return run
    return wrap


DEVICE = "cuda"


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def rel_err(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).abs().max() / b.abs().max())


@section("cpu checks")
def cpu_checks():
    env = dict(os.environ, PYTHONPATH=HERE, AZR_TEST_THREADS="4")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "test/torch/py/checks.py")], env=env, capture_output=True, text=True, timeout=300)
    for line in out.stdout.strip().splitlines():
        r = json.loads(line)
        emit("cpu check: " + r["name"], ok=r["ok"], detail=r["detail"] if r["ok"] is not True else {k: v for k, v in r["detail"].items() if k in ("maxRelErr", "transformers")})
    if out.returncode != 0:
        emit("cpu checks exit", ok=False, stderr=out.stderr[-2000:])


def hf_model(d, dtype):
    from transformers import AutoModelForCausalLM

    try:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="sdpa")
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=dtype, attn_implementation="sdpa")
    return m.eval().to(DEVICE)


@section("gpu parity")
def gpu_parity(tmp):
    import fixtures

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        import transformers  # noqa: F401
        have_hf = True
    except ImportError:
        have_hf = False
    ids = torch.tensor([[256] + [int(x) for x in torch.randint(0, 300, (127,), generator=torch.Generator().manual_seed(0))]])
    for arch in ("qwen2", "llama", "qwen3"):
        d = os.path.join(tmp, "fx-" + arch)
        fixtures.make_model_dir(d, arch, seed=4)
        _, cpu = load_model(d, torch.device("cpu"), torch.float32)
        _, g32 = load_model(d, torch.device("cuda"), torch.float32)
        _, g16 = load_model(d, torch.device("cuda"), torch.bfloat16)
        with torch.no_grad():
            ref = cpu(ids)[0]
            ours32 = g32(ids.cuda())[0]
            ours16 = g16(ids.cuda())[0]
        emit(f"parity {arch}: ours cuda fp32 vs ours cpu fp32", ok=rel_err(ours32, ref) <= 1e-4, maxRelErr=rel_err(ours32, ref))
        if have_hf:
            h32, h16 = hf_model(d, torch.float32), hf_model(d, torch.bfloat16)
            with torch.no_grad():
                r32 = h32(ids.cuda()).logits[0].float()
                r16 = h16(ids.cuda()).logits[0].float()
            emit(f"parity {arch}: ours vs transformers, cuda fp32", ok=rel_err(ours32, r32) <= 1e-4, maxRelErr=rel_err(ours32, r32))
            emit(f"parity {arch}: ours vs transformers, cuda bf16", ok=rel_err(ours16, r16) <= 3e-2, maxRelErr=rel_err(ours16, r16),
                 bf16VsFp32=rel_err(r16, r32))
            del h32, h16
    torch.backends.cuda.matmul.allow_tf32 = True


@section("gpu kv cache")
def gpu_kv(tmp):
    import fixtures

    d = os.path.join(tmp, "fx-kv")
    fixtures.make_model_dir(d, "qwen3", seed=5)
    torch.backends.cuda.matmul.allow_tf32 = False
    _, m = load_model(d, torch.device("cuda"), torch.float32)
    prompts = [[256, 5, 9, 13], [256, 40, 41], [256, 1, 2, 3, 4, 5, 6, 7], [256, 99]]
    got = {o["index"]: o["tokens"] for o in Generator(m, None, []).run(prompts, GenOptions(max_new_tokens=16, max_batch=3))}
    eager = {o["index"]: o["tokens"] for o in Generator(m, None, []).run(prompts, GenOptions(max_new_tokens=16, max_batch=3, cuda_graphs=False))}
    full = []
    for p in prompts:
        seq = list(p)
        for _ in range(16):
            with torch.no_grad():
                seq.append(int(m(torch.tensor([seq], device="cuda"))[0, -1].argmax()))
        full.append(seq[len(p):])
    emit("kv cache == full recompute (cuda fp32, SDPA, CUDA graph decode)", ok=[got[i] for i in range(4)] == full)
    emit("kv cache == full recompute (cuda fp32, SDPA, eager decode)", ok=[eager[i] for i in range(4)] == full)
    torch.backends.cuda.matmul.allow_tf32 = True


QWEN25_05B = dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], vocab_size=151936, hidden_size=896, intermediate_size=4864,
                  num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
                  max_position_embeddings=32768, tie_word_embeddings=True, eos_token_id=151643, bos_token_id=151643, torch_dtype="bfloat16")


def make_05b(d):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    m = CausalLM(ModelConfig.from_hf(QWEN25_05B), device="meta", dtype=torch.bfloat16).to_empty(device=DEVICE)
    m.lm_head.weight = m.model.embed_tokens.weight
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(torch.ones_like(p) if n.endswith("norm.weight") else torch.randn_like(p) * 0.02)
    from azr_torch.loading import state_for_save

    save_checkpoint(state_for_save(m), d, max_shard_bytes=400 * 1024**2)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(QWEN25_05B, f)
    return sum(p.numel() for p in m.parameters())


def time_ours_decode(eng, batch, prompt_len, new):
    g = torch.Generator().manual_seed(batch)
    prompts = [torch.randint(0, QWEN25_05B["vocab_size"] - 1000, (prompt_len,), generator=g).tolist() for _ in range(batch)]
    list(eng.generate({"prompts": prompts[:2], "maxNewTokens": 8}, lambda: False))  # warm-up
    sync()
    t0 = time.time()
    outs = list(eng.generate({"prompts": prompts, "maxNewTokens": new, "maxBatch": batch}, lambda: False))
    sync()
    dt = time.time() - t0
    n = sum(len(o["tokens"]) for o in outs)
    return n / dt, n, dt


def time_hf_decode(hf, batch, prompt_len, new):
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, QWEN25_05B["vocab_size"] - 1000, (batch, prompt_len), generator=g).to(DEVICE)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        hf.generate(input_ids=ids[:2], attention_mask=mask[:2], max_new_tokens=8, do_sample=False, pad_token_id=0)
        sync()
        t0 = time.time()
        out = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
        sync()
    dt = time.time() - t0
    n = (out.shape[1] - prompt_len) * batch
    return n / dt, n, dt


def train_batch(n_seq, prompt_len, resp_len, seed=0):
    g = torch.Generator().manual_seed(seed)
    import numpy as np

    out = []
    for i in range(n_seq):
        out.append({"prompt": torch.randint(0, QWEN25_05B["vocab_size"] - 1000, (prompt_len,), generator=g).tolist(),
                    "response": torch.randint(0, QWEN25_05B["vocab_size"] - 1000, (resp_len,), generator=g).tolist(),
                    "advantages": np.full(resp_len, 1.0 if i % 2 else -1.0, dtype="<f4").tobytes()})
    return out


@section("0.5B timings")
def timings(tmp, quick):
    d = os.path.join(tmp, "qwen2-0.5b")
    t0 = time.time()
    n_params = make_05b(d)
    emit("0.5B random checkpoint written", params=n_params, seconds=round(time.time() - t0, 1))
    t0 = time.time()
    eng = Engine({"modelDir": d, "device": DEVICE, "dtype": "bfloat16" if DEVICE == "cuda" else "float32"})
    sync()
    emit("0.5B load (bf16, 3 shards streamed to cuda)", seconds=round(time.time() - t0, 2))
    new = 64 if quick else 128
    for b in (1, 64):
        tps, n, dt = time_ours_decode(eng, b, 32, new)
        emit(f"gpu decode tokens/s batch {b}", ours=round(tps, 1), tokens=n, seconds=round(dt, 2), cudaGraphs=eng.cuda_graphs)
    if DEVICE == "cuda":
        eng.cuda_graphs = False
        tps, n, dt = time_ours_decode(eng, 64, 32, new)
        emit("gpu decode tokens/s batch 64 (eager decode)", ours=round(tps, 1), tokens=n, seconds=round(dt, 2))
        eng.cuda_graphs = True
    try:
        hf = hf_model(d, torch.bfloat16)
        for b in (1, 64):
            tps, n, dt = time_hf_decode(hf, b, 32, new)
            emit(f"transformers generate tokens/s batch {b}", peer=round(tps, 1), tokens=n, seconds=round(dt, 2))
        del hf
    except ImportError:
        emit("transformers generate", skipped="transformers not importable")
    # training: fp32 master weights, bf16 autocast, AdamW, micro-batches of 4. The two sides take
    # turns step by step and each reports its median: one side timed after the other measured the
    # GPU's clock and neighbours as much as the code (0.92x to 1.07x between runs of the same code)
    trn = Engine({"modelDir": d, "device": DEVICE, "dtype": "float32",
                  "optim": {"lr": 1e-6, "microBatch": 4, "autocastBf16": True}, "loss": {"entropyCoef": 0.0}})
    batch = train_batch(16, 64, 448)
    tokens = sum(len(s["prompt"]) + len(s["response"]) for s in batch)
    try:
        peer_step = hf_train_step(d, batch)
    except ImportError:
        peer_step = None
        emit("transformers train", skipped="transformers not importable")
    ours_step = lambda: trn.train_step({"batch": batch})  # noqa: E731
    rounds = 3 if quick else 7
    times = {"ours": [], "peer": []}
    for r in range(rounds + 1):  # round 0 warms up (allocations, AdamW state)
        for side, fn in (("ours", ours_step), ("peer", peer_step)):
            if fn is None:
                continue
            sync()
            t0 = time.time()
            out = fn()
            sync()
            if r:
                times[side].append(time.time() - t0)
            if side == "ours":
                st = out
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items() if v}
    emit("gpu train tokens/s", ours=round(tokens / med["ours"], 1), peer=round(tokens / med["peer"], 1) if "peer" in med else None,
         ratio=round(med["peer"] / med["ours"], 3) if "peer" in med else None, tokensPerStep=tokens, rounds=rounds,
         secondsPerStep={k: [round(t, 3) for t in v] for k, v in times.items()}, loss=st["loss"], gradNorm=st["gradNorm"],
         peakMemGiB=round(torch.cuda.max_memory_allocated() / 2**30, 1) if DEVICE == "cuda" else None,
         note="median step of each side, the two taking turns; peer = transformers + torch AdamW, same batch, micro-batches and autocast")
    del peer_step
    # weight sync learner -> rollout engine through get/set_weights (fp32 bytes on host, as the pipe carries them)
    sync()
    t0 = time.time()
    ws = {w["name"]: {"data": w["data"]} for w in trn.get_weights()}
    t1 = time.time()
    eng.set_weights({"tensors": ws, "version": 1})
    sync()
    t2 = time.time()
    emit("get/set_weights ms (0.5B, in-process fp32 bytes)", ours=round((t2 - t0) * 1000, 1), getMs=round((t1 - t0) * 1000, 1), setMs=round((t2 - t1) * 1000, 1),
         bytes=sum(len(w["data"]) for w in ws.values()), note="in-process bytes path, without the pipe transfer")
    del ws, trn, eng
    if DEVICE == "cuda":
        torch.cuda.empty_cache()


@section("0.5B train variants")
def train_variants(tmp):
    """LoRA on a bf16 base with gradient checkpointing (save -> reload -> same scores), and full
    fine-tuning on long responses (16 x 4096 tokens) to show the chunked lm_head's memory bound."""
    d = os.path.join(tmp, "qwen2-0.5b")
    if not os.path.exists(os.path.join(d, "config.json")):
        make_05b(d)
    batch = train_batch(16, 64, 448, seed=1)
    tokens = sum(len(s["prompt"]) + len(s["response"]) for s in batch)
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    lo = Engine({"modelDir": d, "device": DEVICE, "dtype": "bfloat16" if DEVICE == "cuda" else "float32", "seed": 1,
                 "lora": {"rank": 16, "alpha": 32}, "optim": {"lr": 1e-4, "microBatch": 4, "gradientCheckpointing": True}})
    lo.train_step({"batch": batch})
    sync()
    t0 = time.time()
    st = lo.train_step({"batch": batch})
    sync()
    dt = time.time() - t0
    emit("lora train tokens/s (bf16 base, fp32 adapters, r=16, gradient checkpointing)", ours=round(tokens / dt, 1), loss=st["loss"],
         gradNorm=st["gradNorm"], trainable=lo.info()["trainableParameters"],
         peakMemGiB=round(torch.cuda.max_memory_allocated() / 2**30, 1) if DEVICE == "cuda" else None)
    req = {"prompts": [s["prompt"] for s in batch[:4]], "responses": [s["response"] for s in batch[:4]]}
    before = lo.score(req)
    out = os.path.join(tmp, "adapter")
    lo.save({"dir": out})
    lo2 = Engine({"modelDir": d, "device": DEVICE, "dtype": "bfloat16" if DEVICE == "cuda" else "float32", "lora": {"adapterDir": out}})
    import numpy as np

    diff = max(float(np.abs(np.frombuffer(a, "<f4") - np.frombuffer(b, "<f4")).max()) for a, b in zip(before, lo2.score(req)))
    emit("lora adapter save -> reload scores equal", ok=diff == 0.0, maxAbsDiff=diff)
    del lo, lo2
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    long_batch = train_batch(16, 64, 4032 if DEVICE == "cuda" else 192, seed=2)
    long_tokens = sum(len(s["prompt"]) + len(s["response"]) for s in long_batch)
    ft = Engine({"modelDir": d, "device": DEVICE, "dtype": "float32",
                 "optim": {"lr": 1e-6, "microBatch": 4, "autocastBf16": True, "gradientCheckpointing": True}})
    ft.train_step({"batch": long_batch[:4]})
    sync()
    t0 = time.time()
    st = ft.train_step({"batch": long_batch})
    sync()
    dt = time.time() - t0
    emit("full fine-tune, 16 x 4096 tokens, micro-batch 4, gradient checkpointing", ours=round(long_tokens / dt, 1), secondsPerStep=round(dt, 2),
         loss=st["loss"], peakMemGiB=round(torch.cuda.max_memory_allocated() / 2**30, 1) if DEVICE == "cuda" else None)


def hf_train_step(d, batch):
    """A plain transformers + AdamW training step on the same batch: same micro-batches, autocast,
    token-mean PG loss. Returns the step function (the model and optimiser live in its closure)."""
    from transformers import AutoModelForCausalLM

    try:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="sdpa").to(DEVICE).train()
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="sdpa").to(DEVICE).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-6, weight_decay=0.01)
    import numpy as np

    n_tok = sum(len(s["response"]) for s in batch)

    def step():
        for i in range(0, len(batch), 4):
            mb = batch[i:i + 4]
            ids = torch.tensor([s["prompt"] + s["response"] for s in mb], device=DEVICE)
            adv = torch.tensor(np.stack([np.frombuffer(s["advantages"], dtype="<f4") for s in mb]), device=DEVICE)
            P = len(mb[0]["prompt"])
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=DEVICE == "cuda"):
                logits = m(ids).logits[:, P - 1:-1].float()
            logp = torch.log_softmax(logits, -1).gather(-1, ids[:, P:, None])[..., 0]
            ratio = torch.exp(logp - logp.detach())
            (-(adv * ratio).sum() / n_tok).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


@section("workers")
def workers(tmp):
    from gpu_smoke_workers import worker_pipeline

    d = os.path.join(tmp, "qwen2-0.5b")
    if not os.path.exists(os.path.join(d, "config.json")):
        make_05b(d)
    worker_pipeline(emit, d, DEVICE, HERE, QWEN25_05B["vocab_size"])


@section("tensor parallel")
def tensor_parallel_check(tmp):
    import fixtures
    from gpu_smoke_workers import tensor_parallel

    d = os.path.join(tmp, "fx-tp")
    fixtures.make_model_dir(d, "qwen2", seed=4)
    tensor_parallel(emit, d, DEVICE, HERE, fixtures.VOCAB + 1000)


@section("fsdp")
def fsdp_check(tmp):
    import socket

    import fixtures
    import numpy as np

    d = os.path.join(tmp, "fx-fsdp")
    fixtures.make_model_dir(d, "qwen2", seed=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    on_gpu = DEVICE == "cuda"
    base = {"modelDir": d, "device": DEVICE, "dtype": "float32", "seed": 0, "loss": {"entropyCoef": 0.01},
            "optim": {"lr": 1e-3, "microBatch": 2, "autocastBf16": on_gpu}}
    rng = np.random.default_rng(0)
    batch = [{"prompt": [256] + list(rng.integers(0, 255, 5 + i)), "response": list(rng.integers(0, 255, 4 + i)),
              "advantages": rng.standard_normal(4 + i).astype("<f4").tobytes()} for i in range(5)]
    batch = [{**b, "prompt": [int(t) for t in b["prompt"]], "response": [int(t) for t in b["response"]]} for b in batch]
    plain = Engine(base)
    sharded = Engine({**base, "optim": {**base["optim"], "fsdp": True}, "distributed": {"rank": 0, "worldSize": 1, "masterPort": port}})
    try:
        stats = [(plain.train_step({"batch": batch}), sharded.train_step({"batch": batch})) for _ in range(2)]
        w1 = {f["name"]: np.frombuffer(f["data"], "<f4") for f in plain.get_weights()}
        w2 = {f["name"]: np.frombuffer(f["data"], "<f4") for f in sharded.get_weights()}
        wdiff = max(float(np.abs(w1[n] - w2[n]).max()) for n in w1) if w1.keys() == w2.keys() else float("inf")
        ck = os.path.join(tmp, "fsdp-ckpt")
        sharded.save({"dir": ck})
        sharded.save_training_state({"dir": ck})
        resumed = Engine({**base, "modelDir": ck})
        resumed.load_training_state({"dir": ck})
        after = (resumed.train_step({"batch": batch}), sharded.train_step({"batch": batch}))
        # bf16 autocast on CUDA: the two paths run the same kernels on the same weights, so they
        # should agree far below bf16's resolution; fp32 on CPU to ~1e-6
        tol = 1e-3 if on_gpu else 1e-5
        emit("fsdp: one rank == plain engine (2 steps), checkpoint resumes a plain engine", ok=wdiff <= tol and all(
            abs(a["loss"] - b["loss"]) <= tol for a, b in stats + [after]),
             weightDiff=wdiff, losses=[[a["loss"], b["loss"]] for a, b in stats + [after]],
             momentsBytes=[stats[-1][0].get("optimizerStateBytes"), stats[-1][1].get("optimizerStateBytes")])
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: cpu,parity,kv,timings,variants,workers,tp,fsdp")
    ap.add_argument("--dry-run-cpu", action="store_true", help="exercise the timing section's code on CPU with a shrunken model (numbers meaningless)")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    if a.dry_run_cpu:
        global DEVICE
        DEVICE = "cpu"
        QWEN25_05B.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=2000)
        dry = tempfile.mkdtemp(prefix="azr-gpu-smoke-dry-")
        if "timings" not in skip:
            timings(dry, True)
        if "variants" not in skip:
            train_variants(dry)
        if "workers" not in skip:
            workers(dry)
        if "tp" not in skip:
            tensor_parallel_check(dry)
        if "fsdp" not in skip:
            fsdp_check(dry)
        return
    if not torch.cuda.is_available():
        raise SystemExit(f"gpu_smoke.py needs a CUDA GPU; torch {torch.__version__} sees none")
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0)}
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    global STREAM
    os.makedirs(a.out, exist_ok=True)
    STREAM = open(os.path.join(a.out, "gpu_smoke.jsonl"), "w")
    emit("environment", **info)
    tmp = tempfile.mkdtemp(prefix="azr-gpu-smoke-")
    if "cpu" not in skip:
        cpu_checks()
    if "parity" not in skip:
        gpu_parity(tmp)
    if "kv" not in skip:
        gpu_kv(tmp)
    if "timings" not in skip:
        timings(tmp, a.quick)
    if "variants" not in skip:
        train_variants(tmp)
    if "workers" not in skip:
        workers(tmp)
    if "tp" not in skip:
        tensor_parallel_check(tmp)
    if "fsdp" not in skip:
        fsdp_check(tmp)
    with open(os.path.join(a.out, "gpu_smoke.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
