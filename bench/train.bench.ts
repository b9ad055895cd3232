/**
 * Training-step throughput and memory of azr's ORT trainer (model/train: forward + backward graph
 * in onnxruntime-node, AdamW in TypeScript, through the trainer's worker thread) against PyTorch
 * (Debian's torch 1.13, OpenBLAS, model/torch's CausalLM) training the same random Qwen2-shaped
 * model on the same batch with the same loss (next-token cross-entropy) and optimiser (AdamW,
 * clip 1.0), same thread count, in the same run. Configs: tiny and ~100M parameters, full
 * fine-tuning, and 100M with LoRA r=16 on every projection (model/torch's LoraLinear on the peer
 * side). Rows: tokens/s per config, GFLOP/s for full training, and peak MB of the 100M full run.
 * Each side trains in its own process (./train-ours.ts, ./peers/train_torch.py) so its peak
 * resident memory is that run's alone; the peer's 1024² matmul GFLOP/s is printed beside
 * (design.md "Fair peers").
 * FLOPs counted alike for both: 3 × forward, forward = 2·tokens·(linear params + V·h) + 4·B·T²·H·D·L.
 * Env: AZR_BENCH_THREADS (default: all cores), AZR_BENCH_QUICK=1 (one round, fewer steps),
 * AZR_BENCH_CONFIGS (labels separated by ";": only those configs).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { report, type BenchRow } from "./report.ts";
import { paramCount, parseConfig, type ArchConfig } from "../model/config.ts";
import { randomWeights, saveModel } from "../model/checkpoint.ts";
import { findPython } from "../model/python.ts";

const threads = Number(process.env.AZR_BENCH_THREADS ?? availableParallelism());
const quick = process.env.AZR_BENCH_QUICK === "1";

const qwen2 = (o: Record<string, unknown>): ArchConfig =>
  ({ ...parseConfig({ architectures: ["Qwen2ForCausalLM"], tie_word_embeddings: true, max_position_embeddings: 1024, rope_theta: 1e6, ...o }), eosTokenIds: [] });

const LORA = { r: 16, alpha: 32, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

const MODELS: { label: string; config: ArchConfig; B: number; T: number; steps: number; lora?: typeof LORA; memory?: boolean }[] = [
  // 0.92M parameters: data/tiny's shape (the tiny recipe's model, 1,024-token BPE).
  { label: "tiny, full", config: qwen2({ vocab_size: 1024, hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2 }), B: 8, T: 128, steps: quick ? 2 : 6 },
  // ~98M parameters: Qwen2 shape (GQA 12:2, head_dim 64, SwiGLU, tied 32k embeddings), bench/generate's 100M.
  { label: "100M, full", config: qwen2({ vocab_size: 32000, hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 12, num_key_value_heads: 2 }), B: 4, T: 128, steps: quick ? 1 : 3, memory: true },
];
// The same 100M model with LoRA r=16 on every projection (base frozen; both sides train only adapters).
MODELS.push({ ...MODELS[1], label: "100M, LoRA", lora: LORA, memory: false });
// AZR_BENCH_CONFIGS="100M, full;100M, LoRA" runs only those configs (a re-measurement, a profile).
const only = process.env.AZR_BENCH_CONFIGS?.split(";").map((x) => x.trim());
if (only?.some((l) => !MODELS.some((m) => m.label === l)))
  throw new Error(`AZR_BENCH_CONFIGS names ${only.join("; ")}; the configs are ${MODELS.map((m) => m.label).join("; ")}`);

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

interface Side { stepS: number; peakMB: number; baseMB: number }
interface PeerSide extends Side { matmul: number; blas: string; version: string }

/** One side's training run in its own process: the request on stdin, its JSON reply on stdout. */
function runChild(cmd: string, args: string[], req: object, env: NodeJS.ProcessEnv): Record<string, unknown> & { step_s: number[]; peak_mb: number; base_mb: number } {
  const out = execFileSync(cmd, args, { input: JSON.stringify(req), env, maxBuffer: 1 << 26, stdio: ["pipe", "pipe", "inherit"] });
  return JSON.parse(out.toString());
}

function ours(dir: string, ids: number[][], steps: number, lora?: typeof LORA): Side {
  const r = runChild(process.execPath, ["--import", "tsx", join(import.meta.dirname, "train-ours.ts")], { dir, ids, threads, warmup: 1, steps, lr: 1e-4, lora }, process.env);
  return { stepS: median(r.step_s), peakMB: r.peak_mb, baseMB: r.base_mb };
}

function peer(dir: string, ids: number[][], steps: number, lora?: typeof LORA): PeerSide {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE; // they force the Haswell kernels: half the AVX-512 speed (design.md)
  delete env.OPENBLAS_L2_SIZE;
  const r = runChild(findPython().path, [join(import.meta.dirname, "peers", "train_torch.py")], { dir, ids, threads, warmup: 1, steps, lr: 1e-4, lora }, env);
  return { stepS: median(r.step_s), peakMB: r.peak_mb, baseMB: r.base_mb, matmul: r.matmul_gflops as number, blas: r.blas as string, version: r.torch as string };
}

const rows: BenchRow[] = [];
const notes: string[] = [];
for (const m of MODELS.filter((x) => !only || only.includes(x.label))) {
  const dir = mkdtempSync(join(tmpdir(), `azr-bench-train-${m.label.replace(/\W+/g, "-")}-`));
  saveModel(dir, m.config, randomWeights(m.config, 1));
  const ids = batchIds(m.B, m.T, m.config.vocabSize);
  const tokens = m.B * (m.T - 1);
  const flops = trainFlops(m.config, m.B, m.T);
  // Best time of the rounds per side; peak memory the highest any round reached.
  let o: Side = { stepS: Infinity, peakMB: 0, baseMB: 0 };
  let p: PeerSide = { stepS: Infinity, peakMB: 0, baseMB: 0, matmul: 0, blas: "", version: "" };
  for (let r = 0; r < ROUNDS; r++) {
    const or = ours(dir, ids, m.steps, m.lora);
    o = { stepS: Math.min(o.stepS, or.stepS), peakMB: Math.max(o.peakMB, or.peakMB), baseMB: or.baseMB };
    const pr = peer(dir, ids, m.steps, m.lora);
    p = { ...(pr.stepS < p.stepS ? pr : p), stepS: Math.min(p.stepS, pr.stepS), peakMB: Math.max(p.peakMB, pr.peakMB) };
  }
  rows.push({ metric: `train tokens/s (${m.label})`, unit: "tok/s", ours: tokens / o.stepS, peer: tokens / p.stepS });
  // LoRA skips the frozen weights' gradients (a third of the matmul work), so GFLOP/s is only stated for full training.
  if (!m.lora) rows.push({ metric: `train GFLOP/s (${m.label})`, unit: "GFLOP/s", ours: flops / o.stepS / 1e9, peer: flops / p.stepS / 1e9 });
  if (m.memory) {
    rows.push({ metric: `peak MB (${m.label})`, unit: "MB, lower is better", ours: o.peakMB, peer: p.peakMB });
    notes.push(`peak MB (${m.label}): each side's whole training process (peak RSS, VmHWM: load, warm-up and timed steps, every thread); before loading the model ours held ${o.baseMB.toFixed(0)} MB (Node + tsx), the peer ${p.baseMB.toFixed(0)} MB (Python + torch); a ratio below 1 means ours uses less`);
  }
  notes.push(`${m.label}: ${(paramCount(m.config) / 1e6).toFixed(1)}M params, batch ${m.B}×${m.T}, ${m.steps} timed steps after a warm-up step; peer torch ${p.version} (${p.blas}) 1024² matmul ${p.matmul.toFixed(0)} GFLOP/s`);
  rmSync(dir, { recursive: true, force: true });
}
notes.push(`load average during the run: ${loadavg().map((x) => x.toFixed(1)).join(" ")} on ${availableParallelism()} cores`);
notes.push(`threads ${threads} on both sides; each side in its own process; best of ${ROUNDS} alternating rounds, each the median step; ours = OrtTrainer.trainStep (worker thread, graph + AdamW), peer = forward + backward + clip + AdamW`);
report({ name: "train", peer: "PyTorch 1.13 CPU", rows, notes });
