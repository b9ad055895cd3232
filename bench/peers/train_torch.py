#!/usr/bin/env python3
"""PyTorch peer for bench/train.bench.ts: trains the same Hugging Face model directory on the same
batch with the same loss (next-token cross-entropy over every position but the first) and the same
optimiser (AdamW, grad-norm clip 1.0), one optimiser step per timed step, fp32 on CPU.
The model is model/torch's CausalLM (plain nn.Modules, PyTorch's own kernels).
Also reports torch's 1024x1024 fp32 matmul GFLOP/s, so a reader can see which BLAS it got.

stdin: {"dir", "ids": [[int]] (B,T), "threads", "warmup", "steps", "lr", "lora"?: {r, alpha, targetModules}}
stdout: {"step_s": [...], "matmul_gflops": float, "torch": version, "blas": str, "peak_mb": float, "base_mb": float}
  peak_mb: this process's peak RSS over the training run (load, warm-up, timed steps; VmHWM, all threads);
  base_mb: its RSS before the model is loaded (Python and torch imported, no model).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "model", "torch"))
import torch  # noqa: E402
from azr_torch.loading import load_model  # noqa: E402
from azr_torch.lora import LoraSettings, apply_lora  # noqa: E402


def matmul_gflops() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    n, t0 = 20, time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 1024 ** 3 * n / (time.perf_counter() - t0) / 1e9


def proc_mb(field: str) -> float:
    """A field of /proc/self/status (VmHWM, VmRSS) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main():
    req = json.load(sys.stdin)
    base_mb = proc_mb("VmRSS")
    torch.set_num_threads(req["threads"])
    torch.manual_seed(0)
    _, model = load_model(req["dir"], torch.device("cpu"), torch.float32)
    if req.get("lora"):
        apply_lora(model, LoraSettings.from_args(req["lora"]))  # base frozen, adapters trainable
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=req["lr"], weight_decay=0.01)
    ids = torch.tensor(req["ids"], dtype=torch.long)

    def step():
        logits = model(ids)  # (B,T,V)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    for _ in range(req["warmup"]):
        step()
    times = []
    for _ in range(req["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak_mb = proc_mb("VmHWM")  # before the matmul probe below allocates anything
    # Debian's torch links the generic libblas.so.3; which library that resolved to shows in our maps.
    maps = open("/proc/self/maps").read()
    blas = "openblas" if "openblas" in maps.lower() else "reference BLAS" if "libblas" in maps else "unknown"
    json.dump({"step_s": times, "matmul_gflops": matmul_gflops(), "torch": torch.__version__, "blas": blas,
               "peak_mb": peak_mb, "base_mb": base_mb}, sys.stdout)


main()
