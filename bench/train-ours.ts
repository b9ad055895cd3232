/**
 * Our side of bench/train.bench.ts, run as its own process (like the PyTorch peer,
 * bench/peers/train_torch.py) so that its peak resident memory is that of one training run
 * alone: the process's VmHWM counts every thread, the trainer's worker and onnxruntime's included.
 *
 * stdin: {"dir", "ids": [[int]] (B,T), "threads", "warmup", "steps", "lr", "lora"?: {r, alpha, dropout, targetModules}}
 * stdout: {"step_s": [...], "peak_mb": float, "base_mb": float}
 *   peak_mb: the process's peak RSS over the whole run (load, session build, warm-up, timed steps);
 *   base_mb: its RSS before the trainer starts (Node and tsx; the worker loads onnxruntime and the model).
 */
import { readFileSync } from "node:fs";
import { createOrtTrainer } from "../model/train/trainer.ts";

/** A field of /proc/self/status in MB (Linux); the resourceUsage fallback only knows the peak. */
function procMB(field: "VmHWM" | "VmRSS"): number {
  try {
    const m = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS / 1024;
}

const req = JSON.parse(readFileSync(0, "utf8")) as {
  dir: string; ids: number[][]; threads: number; warmup: number; steps: number; lr: number;
  lora?: { r: number; alpha: number; dropout: number; targetModules: string[] };
};
const baseMB = procMB("VmRSS");
const trainer = await createOrtTrainer({ modelDir: req.dir }, {
  loss: { kind: "cross-entropy" }, optim: { lr: req.lr, microBatch: req.ids.length }, threads: req.threads, maxPositions: 1024, lora: req.lora,
});
// Same loss positions as the peer: every token but the first is predicted from the ones before it.
const batch = req.ids.map((seq) => ({ prompt: seq.slice(0, 1), response: seq.slice(1) }));
for (let i = 0; i < req.warmup; i++) await trainer.trainStep(batch);
const stepS: number[] = [];
for (let i = 0; i < req.steps; i++) {
  const t0 = performance.now();
  await trainer.trainStep(batch);
  stepS.push((performance.now() - t0) / 1000);
}
const peakMB = procMB("VmHWM");
await trainer.dispose();
process.stdout.write(JSON.stringify({ step_s: stepS, peak_mb: peakMB, base_mb: baseMB }));
