/**
 * The torch engine on a GPU, side by side with Hugging Face transformers on the same GPU and the
 * same random 0.5B Qwen2-shaped weights (Qwen2.5-0.5B dimensions, bf16): decode tokens/s at batch 1
 * and 64 (ours: KV cache + CUDA-graph decode; peer: `generate`), training tokens/s (ours: trainStep,
 * fp32 master weights + bf16 autocast + AdamW; peer: a plain transformers + AdamW loop, same
 * micro-batches; the two sides take turns, medians), and the time of one weight sync as the actors
 * make it: the learner worker writes its bf16 weight file to /dev/shm, the rollout worker loads it.
 * Runs model/torch/gpu_smoke.py's timing and worker sections with the chosen Python (AZR_PYTHON). Without a CUDA
 * GPU it says so and exits 0: there is nothing honest to time on this machine's CPU for these rows.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPython } from "../model/python.ts";
import { report, type BenchRow } from "./report.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const python = findPython().path;
const probe = spawnSync(python, ["-c", "import torch; print(torch.cuda.is_available())"], { encoding: "utf8" });
if (probe.stdout.trim() !== "True") {
  console.log(`bench torch: skipped — ${python} has no CUDA GPU (${(probe.stdout + probe.stderr).trim().split("\n").pop()}).`);
  console.log("Run it on a GPU machine (AZR_PYTHON=<python with CUDA torch + transformers>); the last measured figures are in model/torch/README.md.");
  process.exit(0);
}
const out = mkdtempSync(join(tmpdir(), "azr-bench-torch-"));
const run = spawnSync(python, [join(root, "model/torch/gpu_smoke.py"), "--skip", "cpu,parity,kv,variants", "--out", out], {
  cwd: root, env: { ...process.env, PYTHONPATH: join(root, "model/torch") }, stdio: ["ignore", "inherit", "inherit"], timeout: 900_000,
});
if (run.status !== 0) throw new Error(`gpu_smoke.py exited with ${run.status}`);
const results = JSON.parse(readFileSync(join(out, "gpu_smoke.json"), "utf8")) as Record<string, unknown>[];
const get = (name: string, key: string): number | null => {
  const v = results.find((r) => r.name === name)?.[key];
  return typeof v === "number" ? v : null;
};
const env = results.find((r) => r.name === "environment") ?? {};
const rows: BenchRow[] = [];
for (const b of [1, 64]) {
  rows.push({ metric: `gpu decode tokens/s batch ${b}`, unit: "tok/s", ours: get(`gpu decode tokens/s batch ${b}`, "ours") ?? NaN, peer: get(`transformers generate tokens/s batch ${b}`, "peer") });
}
rows.push({ metric: "gpu train tokens/s", unit: "tok/s", ours: get("gpu train tokens/s", "ours") ?? NaN, peer: get("gpu train tokens/s", "peer") });
rows.push({ metric: "weight sync ms (0.5B)", unit: "ms", ours: get("weight sync ms (0.5B, worker file path)", "ours") ?? NaN, peer: null });
report({
  name: "torch",
  peer: `transformers ${String(env.transformers)} on the same GPU`,
  rows,
  notes: [`${String(env.gpu)}, torch ${String(env.torch)}`, "weight sync = learner worker writes the bf16 sync file to /dev/shm + rollout worker loads it (two worker processes, as the actors run them)"],
});
