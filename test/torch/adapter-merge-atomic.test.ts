/**
 * A LoRA adapter version merged into the rollout engine (azr_torch/adapter_sync.py) is installed
 * whole or not at all: every adapter is checked before the first weight is written, and a failure
 * during the writes puts back what was written. A refused version used to leave the modules before
 * the bad one merged: a model that was neither version, serving on. Real torch workers (CPU).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { readConfig, weightShapes } from "../../model/config.ts";
import { findPython } from "../../model/python.ts";
import { makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-adapter-merge-");
const R = 2;
const PEFT = "base_model.model.";

/** Deterministic small values (xorshift), so two engines get the same version. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 0.2;
  }
  return out;
}

/** Adapters (flattened, PEFT names, as the frames transport sends them) for every projection of the model. */
function adapters(shapes: Map<string, number[]>, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let k = seed;
  for (const [name, shape] of shapes) {
    if (!/^model\.layers\.\d+\..*_proj\.weight$/.test(name)) continue;
    const mod = name.slice(0, -".weight".length);
    out.set(`${PEFT}${mod}.lora_A.weight`, values(R * shape[1]!, ++k));
    out.set(`${PEFT}${mod}.lora_B.weight`, values(shape[0]! * R, ++k));
  }
  return out;
}

function assertBitIdentical(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: tensor names`);
  const changed = [...want].filter(([n, w]) => Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(got.get(n)!.buffer, got.get(n)!.byteOffset, got.get(n)!.byteLength)) !== 0).map(([n]) => n);
  assert.deepEqual(changed, [], `${what}: ${changed.length} weight(s) changed, e.g. ${changed.slice(0, 3).join(", ")}`);
}

test("adapter merge - a version whose last module's adapter has the wrong shape changes no weight; a later good version installs", { timeout: 120_000 }, async () => {
  const dir = makeModelDir(join(tmp, "m"), "qwen2", 1);
  const shapes = weightShapes(readConfig(dir));
  await using a = await createTorchEngine({ modelDir: dir, threads: 1 });
  await using b = await createTorchEngine({ modelDir: dir, threads: 1 });
  const lora = { r: R, scale: 2 };

  // v1 on both: the refused version below must leave v1 (not the start model) in place
  const v1 = adapters(shapes, 100);
  await a.applyAdapters(v1, lora, 1);
  await b.applyAdapters(v1, lora, 1);
  const before = await a.getWeights();

  // v2 with the last module's lora_A one input column too wide: refused, naming the module
  const good = adapters(shapes, 200);
  const bad = new Map(good);
  const lastA = [...bad.keys()].filter((n) => n.endsWith(".lora_A.weight")).pop()!;
  const module = lastA.slice(PEFT.length, -".lora_A.weight".length);
  bad.set(lastA, values(bad.get(lastA)!.length + R, 7));
  await assert.rejects(a.applyAdapters(bad, lora, 2), new RegExp(`applyAdapters: ${module.replace(/\./g, "\\.")}\\.weight is \\[`));
  assertBitIdentical(await a.getWeights(), before, "after the refused version");
  assert.equal(a.weightVersion, 1);

  // lora_B of a module missing a row, and a rank that is not a whole number: refused the same way
  const short = new Map(good);
  const lastB = lastA.replace("lora_A", "lora_B");
  short.set(lastB, short.get(lastB)!.subarray(R));
  await assert.rejects(a.applyAdapters(short, lora, 2), /applyAdapters: .*\.weight is \[/);
  await assert.rejects(a.applyAdapters(good, { r: 2.5, scale: 2 }, 2), /applyAdapters: r=2\.5 .*whole number/);
  await assert.rejects(a.applyAdapters(good, { r: R, scale: Number.NaN }, 2), /applyAdapters: scale/);
  assertBitIdentical(await a.getWeights(), before, "after the refused versions");

  // the good v2 installs on top: exactly what an engine that never saw the refused ones holds
  await a.applyAdapters(good, lora, 2);
  await b.applyAdapters(good, lora, 2);
  const after = await a.getWeights();
  assertBitIdentical(after, await b.getWeights(), "v2 after the refused versions vs v2 alone");
  assert.ok([...after].some(([n, w]) => w.some((x, i) => x !== before.get(n)![i])), "v2 changed the weights");
  assert.equal(a.weightVersion, 2);
});

test("adapter merge - a failure half way through the writes restores the written weights (python)", { timeout: 120_000 }, () => {
  const dir = makeModelDir(join(tmp, "r"), "qwen2", 2);
  const out = execFileSync(findPython().path, [fileURLToPath(new URL("py/adapter_restore.py", import.meta.url)), dir], {
    env: { ...process.env, PYTHONPATH: fileURLToPath(new URL("../../model/torch", import.meta.url)) }, encoding: "utf8",
  });
  const checks = out.trim().split("\n").map((l) => JSON.parse(l) as { check: string; ok: boolean; detail: unknown });
  assert.deepEqual(checks.map((c) => c.check), ["after an adapter version", "after a full version", "after a full version, then a partial adapter version", "from the start model"]);
  for (const c of checks) assert.ok(c.ok, `${c.check}: ${JSON.stringify(c.detail)}`);
});
