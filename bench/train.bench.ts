/**
 * Training-step throughput of azr's ORT trainer (model/train: forward + backward graph in
 * onnxruntime-node, AdamW in TypeScript, through the trainer's worker thread) against PyTorch
 * (Debian's torch 1.13, OpenBLAS, model/torch's CausalLM) training the same random Qwen2-shaped
 * model on the same batch with the same loss (next-token cross-entropy) and optimiser (AdamW,
 * clip 1.0), same thread count, in the same run. Rows: tokens/s and GFLOP/s per config (and 20M
 * with LoRA r=16 on every projection, model/torch's LoraLinear on the peer side); the
 * peer's 1024² matmul GFLOP/s is printed beside (design.md "Fair peers").
 * FLOPs counted alike for both: 3 × forward, forward = 2·tokens·(linear params + V·h) + 4·B·T²·H·D·L.
 * Env: AZR_BENCH_THREADS (default: all cores), AZR_BENCH_QUICK=1 (fewer steps).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { report, type BenchRow } from "./report.ts";
import { paramCount, parseConfig, type ArchConfig } from "../model/config.ts";
import { randomWeights, saveModel } from "../model/checkpoint.ts";
import { findPython } from "../model/python.ts";
import { createOrtTrainer } from "../model/train/trainer.ts";

const threads = Number(process.env.AZR_BENCH_THREADS ?? availableParallelism());
const quick = process.env.AZR_BENCH_QUICK === "1";

const qwen2 = (o: Record<string, unknown>): ArchConfig =>
  ({ ...parseConfig({ architectures: ["Qwen2ForCausalLM"], tie_word_embeddings: true, max_position_embeddings: 1024, rope_theta: 1e6, ...o }), eosTokenIds: [] });

const LORA = { r: 16, alpha: 32, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

const MODELS: { label: string; config: ArchConfig; B: number; T: number; steps: number; lora?: typeof LORA }[] = [
  // ~1.8M parameters: the tiny recipe's scale (same shape as bench/generate's tiny).
  { label: "tiny", config: qwen2({ vocab_size: 8192, hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2 }), B: 8, T: 128, steps: quick ? 2 : 6 },
  // ~21M parameters: Qwen2 shape (GQA 8:2, head_dim 64, SwiGLU, tied 8k embeddings).
  { label: "20M", config: qwen2({ vocab_size: 8192, hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 2 }), B: 4, T: 128, steps: quick ? 1 : 4 },
];
// The same 20M model with LoRA r=16 on every projection (base frozen; both sides train only adapters).
MODELS.push({ ...MODELS[1], label: "20M, LoRA", lora: LORA });

function batchIds(B: number, T: number, vocab: number): number[][] {
  let s = 777;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % vocab);
  return Array.from({ length: B }, () => Array.from({ length: T }, next));
}

function trainFlops(c: ArchConfig, B: number, T: number): number {
  const linear = paramCount(c) - c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2); // no embedding/head
  const forward = 2 * B * T * (linear + c.vocabSize * c.hiddenSize) + 4 * B * T * T * c.numHeads * c.headDim * c.numLayers;
  return 3 * forward;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ROUNDS = quick ? 1 : 2; // sides alternate; each side's best round counts (other work on a shared machine only slows a round)

async function ours(dir: string, ids: number[][], steps: number, lora?: typeof LORA): Promise<number> {
  const trainer = await createOrtTrainer({ modelDir: dir }, { loss: { kind: "cross-entropy" }, optim: { lr: 1e-4, microBatch: ids.length }, threads, maxPositions: 1024, lora });
  const batch = ids.map((seq) => ({ prompt: seq.slice(0, 1), response: seq.slice(1) }));
  await trainer.trainStep(batch); // warm-up: session built
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await trainer.trainStep(batch);
    times.push((performance.now() - t0) / 1000);
  }
  await trainer.dispose();
  return median(times);
}

function peer(dir: string, ids: number[][], steps: number, lora?: typeof LORA): { stepS: number; matmul: number; blas: string; version: string } {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE; // they force the Haswell kernels: half the AVX-512 speed (design.md)
  delete env.OPENBLAS_L2_SIZE;
  const out = execFileSync(findPython().path, [join(import.meta.dirname, "peers", "train_torch.py")], {
    input: JSON.stringify({ dir, ids, threads, warmup: 1, steps, lr: 1e-4, lora }), env, maxBuffer: 1 << 26,
  });
  const r = JSON.parse(out.toString());
  return { stepS: median(r.step_s), matmul: r.matmul_gflops, blas: r.blas, version: r.torch };
}

const rows: BenchRow[] = [];
const notes: string[] = [];
for (const m of MODELS) {
  const dir = mkdtempSync(join(tmpdir(), `azr-bench-train-${m.label}-`));
  saveModel(dir, m.config, randomWeights(m.config, 1));
  const ids = batchIds(m.B, m.T, m.config.vocabSize);
  const tokens = m.B * (m.T - 1);
  const flops = trainFlops(m.config, m.B, m.T);
  let oursS = Infinity, p = { stepS: Infinity, matmul: 0, blas: "", version: "" };
  for (let r = 0; r < ROUNDS; r++) {
    oursS = Math.min(oursS, await ours(dir, ids, m.steps, m.lora));
    const pr = peer(dir, ids, m.steps, m.lora);
    if (pr.stepS < p.stepS) p = pr;
  }
  rows.push({ metric: `train tokens/s (${m.label})`, unit: "tok/s", ours: tokens / oursS, peer: tokens / p.stepS });
  // LoRA skips the frozen weights' gradients (a third of the matmul work), so GFLOP/s is only stated for full training.
  if (!m.lora) rows.push({ metric: `train GFLOP/s (${m.label})`, unit: "GFLOP/s", ours: flops / oursS / 1e9, peer: flops / p.stepS / 1e9 });
  notes.push(`${m.label}: ${(paramCount(m.config) / 1e6).toFixed(1)}M params, batch ${m.B}×${m.T}, ${m.steps} timed steps after a warm-up; peer torch ${p.version} (${p.blas}) 1024² matmul ${p.matmul.toFixed(0)} GFLOP/s`);
  rmSync(dir, { recursive: true, force: true });
}
notes.push(`load average during the run: ${loadavg().map((x) => x.toFixed(1)).join(" ")} on ${availableParallelism()} cores (other work shares this machine)`);
notes.push(`threads ${threads} on both sides; best of ${ROUNDS} alternating rounds, each the median step; ours = OrtTrainer.trainStep (worker thread, graph + AdamW), peer = forward + backward + clip + AdamW`);
report({ name: "train", peer: "PyTorch 1.13 CPU", rows, notes });
