"""gpu_smoke.py's worker-pipeline section: the path a self-play step takes between the torch
engines, through real worker processes (azr_torch.worker) driven over their stdin/stdout frames as
the TypeScript actors drive them, on the 0.5B random model.

1. full fine-tuning: the rollout worker (bf16) generates a batch; the learner worker (fp32 master
   weights, bf16 autocast) trains on it; the learner writes the weight-sync file in bf16 (what
   actors/learner.ts asks for on CUDA) under /dev/shm; the rollout worker loads it and generates
   again. Timed per call; the rollout's weights after the load are written back out and must equal
   the learner's file bit for bit.
2. LoRA: a learner worker with rank-16 adapters on a bf16 base trains a step and writes only the
   adapters; the rollout worker merges them (apply_adapters_file) and scores the batch: beside the
   learner's own scores (unmerged adapters, same bf16 base) the difference must stay at bf16
   rounding level.
Not: the TypeScript actors themselves (no Node on the GPU machine), several GPUs.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time

import msgpack
import numpy as np
import torch


class WorkerProc:
    """A minimal driver of one azr_torch.worker process: one call at a time, streams collected."""

    def __init__(self, pythonpath: str):
        env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1")
        self.p = subprocess.Popen([sys.executable, "-m", "azr_torch.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.next_id = 0

    def call(self, method: str, args: dict):
        self.send(method, args)
        return self.reply(method)

    def send(self, method: str, args: dict) -> None:
        """The request alone: ranks of a group must all be asked before any can answer."""
        self.next_id += 1
        body = msgpack.packb({"id": self.next_id, "method": method, "args": args}, use_bin_type=True)
        self.p.stdin.write(struct.pack(">I", len(body)) + body)
        self.p.stdin.flush()

    def reply(self, method: str):
        items = []
        while True:
            head = self.p.stdout.read(4)
            if len(head) < 4:
                raise RuntimeError(f"worker exited during {method} (code {self.p.wait()})")
            msg = msgpack.unpackb(self.p.stdout.read(struct.unpack(">I", head)[0]), raw=False)
            if "error" in msg:
                raise RuntimeError(f"{method}: {msg['error']['type']}: {msg['error']['message']}\n{msg['error']['traceback'][-1500:]}")
            if "ok" in msg:
                return msg["ok"]
            if "item" in msg:
                items.append(msg["item"])
            if msg.get("end"):
                return items

    def timed(self, method: str, args: dict):
        t0 = time.time()
        out = self.call(method, args)
        return out, round((time.time() - t0) * 1000, 1)

    def close(self):
        if not self.p.stdin.closed:
            self.p.stdin.close()
        self.p.wait(timeout=60)


def _tensors(path):
    from azr_torch.safetensors_io import iter_file

    return {n: t.contiguous().view(-1).view(dtype=torch.uint8).numpy().tobytes() for n, t in iter_file(path)}


def worker_pipeline(emit, model_dir: str, device: str, pythonpath: str, vocab: int):
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
    rng = np.random.default_rng(0)
    prompts = [[int(t) for t in rng.integers(0, vocab - 1000, 32)] for _ in range(64)]
    bf16 = "bfloat16" if device == "cuda" else "float32"
    rollout = WorkerProc(pythonpath)
    learner = WorkerProc(pythonpath)
    files = []
    try:
        info, ms = rollout.timed("init", {"modelDir": model_dir, "device": device, "dtype": bf16})
        emit("workers: rollout init", ms=ms, device=info["deviceName"], dtype=info["dtype"])
        _, ms = learner.timed("init", {"modelDir": model_dir, "device": device, "dtype": "float32", "seed": 0,
                                       "optim": {"lr": 1e-4, "microBatch": 8, "autocastBf16": device == "cuda"}})
        emit("workers: learner init (fp32 master weights)", ms=ms)
        gen_args = {"prompts": prompts, "maxNewTokens": 64, "temperature": 1.0, "seed": 7, "maxBatch": 64}
        outs, ms = rollout.timed("generate", gen_args)
        n = sum(len(o["tokens"]) for o in outs)
        emit("workers: generate 64 x 64 (sampled)", ms=ms, tokensPerSecond=round(n / (ms / 1000), 1), sequences=len(outs))
        batch = [{"prompt": prompts[o["index"]], "response": o["tokens"],
                  "advantages": rng.standard_normal(len(o["tokens"])).astype("<f4").tobytes()} for o in outs if o["tokens"]]
        st, ms = learner.timed("train_step", {"batch": batch})
        emit("workers: train step (64 sequences)", ms=ms, loss=st["loss"], gradNorm=st["gradNorm"])
        path = os.path.join(shm, f"azr-smoke-{os.getpid()}-v1.safetensors")
        back = os.path.join(shm, f"azr-smoke-{os.getpid()}-back.safetensors")
        files += [path, back]
        saved, save_ms = learner.timed("save_weights_file", {"path": path, "dtype": "bfloat16" if device == "cuda" else None})
        loaded, load_ms = rollout.timed("load_weights_file", {"path": path, "version": 1})
        rollout.call("save_weights_file", {"path": back})
        a, b = _tensors(path), _tensors(back)
        same = a.keys() == b.keys() and all(a[k] == b[k] for k in a)
        emit("weight sync ms (0.5B, worker file path)", ours=round(save_ms + load_ms, 1), saveMs=save_ms, loadMs=load_ms,
             bytes=saved["bytes"], version=loaded["version"], rolloutEqualsLearnerFile=same, ok=same and loaded["version"] == 1)
        outs2, ms = rollout.timed("generate", gen_args)
        changed = sum(o1["tokens"] != o2["tokens"] for o1, o2 in zip(sorted(outs, key=lambda o: o["index"]), sorted(outs2, key=lambda o: o["index"])))
        emit("workers: generate after the sync", ms=ms, sequencesChanged=changed)
        learner.close()
        learner = None

        lora = WorkerProc(pythonpath)
        try:
            _, ms = lora.timed("init", {"modelDir": model_dir, "device": device, "dtype": bf16, "seed": 1,
                                        "lora": {"rank": 16, "alpha": 32}, "optim": {"lr": 1e-3, "microBatch": 8}})
            st, ms = lora.timed("train_step", {"batch": batch})
            emit("workers: lora train step (64 sequences)", ms=ms, loss=st["loss"])
            # adapters merge into the start model: a rollout engine that never loaded version 1
            rollout.close()
            rollout = WorkerProc(pythonpath)
            rollout.call("init", {"modelDir": model_dir, "device": device, "dtype": bf16})
            apath = os.path.join(shm, f"azr-smoke-{os.getpid()}-lora.safetensors")
            files.append(apath)
            saved, save_ms = lora.timed("save_weights_file", {"path": apath})
            applied, apply_ms = rollout.timed("apply_adapters_file", {"path": apath, "r": 16, "scale": 2.0, "version": 2})
            req = {"prompts": [s["prompt"] for s in batch[:8]], "responses": [s["response"] for s in batch[:8]]}
            mine = lora.call("score", req)
            merged = rollout.call("score", req)
            diff = max(float(np.abs(np.frombuffer(x, "<f4") - np.frombuffer(y, "<f4")).max()) for x, y in zip(mine, merged))
            emit("weight sync ms (0.5B LoRA adapters, worker file path)", ours=round(save_ms + apply_ms, 1), saveMs=save_ms, applyMs=apply_ms,
                 bytes=saved["bytes"], maxAbsLogprobDiff=diff, ok=diff < 0.5)
        finally:
            lora.close()
    finally:
        for w in (rollout, learner):
            if w is not None:
                w.close()
        for f in files:
            if os.path.exists(f):
                os.remove(f)


def tensor_parallel(emit, model_dir: str, device: str, pythonpath: str, vocab: int):
    """Tensor-parallel rollout ranks on one GPU: (a) one NCCL rank (its all-reduces are real NCCL
    kernels inside the captured CUDA-graph decode step) against a plain engine, bf16; (b) two gloo
    ranks sharing the GPU (NCCL refuses two ranks on one device) against a plain engine, fp32, where
    graph capture cannot hold gloo's collectives and every rank must fall back to eager decode."""
    import socket

    def port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    rng = np.random.default_rng(1)
    prompts = [[int(t) for t in rng.integers(0, vocab - 1000, 16)] for _ in range(8)]
    gen = {"prompts": prompts, "maxNewTokens": 32, "maxBatch": 8}
    for label, world, backend, dtype in (("1 NCCL rank, bf16", 1, "nccl", "bfloat16" if device == "cuda" else "float32"),
                                         ("2 gloo ranks on one device, fp32", 2, "gloo", "float32")):
        if backend == "nccl" and device != "cuda":
            continue
        plain = WorkerProc(pythonpath)
        ranks = [WorkerProc(pythonpath) for _ in range(world)]
        try:
            plain.call("init", {"modelDir": model_dir, "device": device, "dtype": dtype})
            p = port()
            for r, w in enumerate(ranks):
                w.send("init", {"modelDir": model_dir, "device": device, "dtype": dtype, "tensorParallel": True,
                                "distributed": {"rank": r, "worldSize": world, "masterPort": p, "backend": backend}})
            infos = [w.reply("init") for w in ranks]
            want = sorted(plain.call("generate", gen), key=lambda o: o["index"])
            t0 = time.time()
            for w in ranks:
                w.send("generate", gen)
            got = [sorted(w.reply("generate"), key=lambda o: o["index"]) for w in ranks]
            ms = round((time.time() - t0) * 1000, 1)
            same = [sum(a["tokens"] == b["tokens"] for a, b in zip(g, want)) for g in got]
            emit(f"tensor parallel: {label}", ok=all(n == len(want) for n in same), sameSequencesPerRank=same, of=len(want), generateMs=ms,
                 distributed=infos[0]["distributed"])
        finally:
            for w in [plain, *ranks]:
                w.close()
