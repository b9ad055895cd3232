/** Test helpers for the torch engine: random tiny HF model folders made by test/torch/py/fixtures.py. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import assert from "node:assert/strict";
import type { TrainStats } from "../../model/engine.ts";
import { findPython } from "../../model/python.ts";

const fixtures = fileURLToPath(new URL("./py/fixtures.py", import.meta.url));

/** A temp folder removed after the file's tests. */
export function useTempDir(prefix = "azr-torch-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a random `arch` model (config.json, safetensors, byte-level tokenizer.json: ids 0–255 are bytes, 257 is eos). */
export function makeModelDir(dir: string, arch: "qwen2" | "llama" | "qwen3", seed = 0): string {
  execFileSync(findPython().path, [fixtures, dir, arch, "--seed", String(seed)], { stdio: "pipe" });
  return dir;
}

/** Why this Python's torch cannot run FSDP ranks on CPU, or "" when it can (asked of azr_torch itself). */
export function fsdpUnavailable(): string {
  return execFileSync(findPython().path, ["-c", "from azr_torch.fsdp import unavailable_reason; print(unavailable_reason() or '')"], {
    env: { ...process.env, PYTHONPATH: fileURLToPath(new URL("../../model/torch", import.meta.url)) }, encoding: "utf8",
  }).trim();
}

export const EOS = 257;
export const BOS = 256;
/** Prompt ids for a string under the fixture tokenizer (bytes are ids). */
export const ids = (s: string): number[] => [BOS, ...Buffer.from(s, "utf8")];

/**
 * Two ranks sum their micro-batches' gradients in another order than one rank (rank 0's two, then
 * rank 1's through the all-reduce): gradients agree to ~3e-8 (measured), weights after 2 Adam
 * steps at lr 1e-3 to ≤ 1e-7 for all but a handful of entries. The exception is the key
 * projections' biases (Qwen2 has them): their true gradient is exactly 0 (adding a constant to
 * every key score of a row leaves the softmax unchanged), so they receive rounding noise of
 * ~1e-9, which Adam's division by √v turns into steps of up to ~1e-4 that depend on the summation
 * order (9e-6 apart measured). They are left out of the ≤ 1e-6 comparison; train.test.ts's
 * single-step check (Qwen3, no biases) allows 1e-5.
 */
export const TOL = 1e-6;

/** Same step, tokens and loss (to TOL), gradient norm to `normTol` relative. */
export function assertStatsClose(a: TrainStats, b: TrainStats, normTol = TOL): void {
  assert.equal(a.step, b.step);
  assert.equal(a.tokens, b.tokens);
  assert.ok(Math.abs(a.loss - b.loss) <= TOL && Math.abs(a.gradNorm - b.gradNorm) <= normTol * b.gradNorm, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
}

/** Largest absolute difference, over every tensor except the key biases (see TOL) unless `all`. */
export function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>, all = false): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let m = 0;
  for (const [name, t] of a) if (all || !name.endsWith("k_proj.bias")) t.forEach((v, i) => { m = Math.max(m, Math.abs(v - b.get(name)![i]!)); });
  return m;
}

