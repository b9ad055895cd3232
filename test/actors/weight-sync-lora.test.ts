/**
 * LoRA weight sync (issue 11: "LoRA: only the adapters move"): a learner training LoRA adapters
 * publishes versions of kind `lora-adapters` holding only the adapters, and the rollout engine
 * merges them into the base it kept, W = W_base + scale·B·A. Real ORT and torch engines (torch on
 * CPU, Debian's python3-torch) in all four learner → rollout combinations, a real nats-server for
 * the object store. The learning rate is large enough that one step moves the merged weights by
 * far more than the tolerance, so a lost, mis-scaled or compounded adapter fails.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Learner } from "../../actors/learner.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { syncWeights, WeightLoader, WeightPublisher, WeightSyncError, type WeightHandle } from "../../actors/weight-sync/index.ts";
import { loraInfo } from "../../actors/weight-sync/lora.ts";
import type { ModelEngine, TrainSequence } from "../../model/engine.ts";
import { readHeader } from "../../model/safetensors.ts";
import { loadModel } from "../../model/checkpoint.ts";
import { BASE } from "../../recipes/index.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { useBaseAndTrained } from "../selfplay/fixtures.ts";

const nats = useNatsServer();
const models = useBaseAndTrained();

const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };
const TRAINER = { ...BASE.trainer, optimizer: { ...BASE.trainer.optimizer, lr: 1e-2 }, lora: LORA };
const TOL = 1e-6;
const PEFT = "base_model.model.";

const seq = (prompt: number[], response: number[], adv: number): TrainSequence => ({ prompt, response, advantages: new Float32Array(response.length).fill(adv) });
const BATCH = [seq([5, 9, 14, 3], [22, 7, 31], 1.1), seq([40, 2, 17], [8, 8, 50, 11], -0.8), seq([60, 61], [12, 70], 0.5)];

let runs = 0;
const runId = () => `test-lora-${process.pid}-${++runs}`;

/** The rollout engine's live weights (its engine is private to the actor). */
async function engineWeights(r: RolloutEngine): Promise<Map<string, Float32Array>> {
  const { engine } = await (r as unknown as { ready: Promise<{ engine: ModelEngine }> }).ready;
  return engine.getWeights();
}

/** The learner's trained tensors: with LoRA, the adapters (PEFT names). */
async function learnerAdapters(l: Learner): Promise<Map<string, Float32Array>> {
  return (await (l as unknown as { trainer: Promise<{ getWeights(): Promise<Map<string, Float32Array>> }> }).trainer).getWeights();
}

const tensorBytes = (m: Map<string, Float32Array>) => [...m.values()].reduce((a, t) => a + t.byteLength, 0);

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [n, x] of a) {
    const y = b.get(n)!;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

function assertClose(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: tensor names`);
  const d = maxDiff(got, want);
  assert.ok(d <= TOL, `${what}: the rollout engine's weights differ from the learner's merged weights by up to ${d}`);
}

for (const [from, to] of [["ort", "ort"], ["torch", "ort"], ["ort", "torch"], ["torch", "torch"]] as const) {
  test(`LoRA weight sync - ${from} learner → ${to} rollout engine: inline, shm and object-store versions equal the learner's merged weights, only the adapters move, versions never compound`, { timeout: 180_000 }, async (t) => {
    const id = runId();
    const weightSync = { runId: id, nats: { servers: [nats.url] } };
    // Both start from the same base: a LoRA learner's versions are deltas on it.
    const l = new Learner({ modelDir: models.base, engine: from, trainer: TRAINER, steps: 10, threads: 1, weightSync });
    const r = new RolloutEngine({ modelDir: models.base, engine: to, maxPromptTokens: 64, threads: 1, maxBatch: 2, weightSync });
    try {
      const base = await engineWeights(r);
      const fullBytes = tensorBytes(base);
      assertClose(base, (await l.weights()).tensors, "before training (B = 0: the merged weights are the base)");
      let previous = base;
      for (const transport of ["inline", "shm", "object-store"] as const) {
        await l.trainStep(BATCH);
        const want = (await l.weights()).tensors;
        const adapters = await learnerAdapters(l);
        const adapterBytes = tensorBytes(adapters);
        assert.ok([...adapters.keys()].every((n) => n.startsWith(PEFT) && /\.lora_[AB]\.weight$/.test(n)), `PEFT adapter names: ${[...adapters.keys()].slice(0, 2)}`);
        // This version moves the weights far beyond the tolerance, and so did the one before: merging
        // on top of the previous version (base + Δ1 + Δ2 instead of base + Δ2) would fail the check below.
        assert.ok(maxDiff(want, previous) > 1e3 * TOL, `${transport}: the train step moved the merged weights by only ${maxDiff(want, previous)}`);
        if (previous !== base) assert.ok(maxDiff(previous, base) > 1e3 * TOL);

        const report = await syncWeights(l, r, transport);
        assert.equal(report.transport, transport);
        assert.equal(report.kind, "lora-adapters");
        assertClose(await engineWeights(r), want, `${from} → ${to} via ${transport}, v${report.version}`);
        if (transport === "inline") assert.equal(report.bytes, adapterBytes, "inline: the adapters' fp32 bytes, nothing else");
        else assert.ok(report.bytes > adapterBytes && report.bytes - adapterBytes <= 8 + 200 * (adapters.size + 1), `${transport}: ${report.bytes} bytes for ${adapterBytes} bytes of adapters (the rest is the safetensors header)`);
        assert.ok(report.bytes * 4 < fullBytes, `${report.bytes} bytes moved, the full weights are ${fullBytes}`);
        t.diagnostic(`${transport} v${report.version}: ${report.bytes} bytes moved (adapters ${adapterBytes}, full fp32 weights ${fullBytes})`);
        if (transport === "shm") {
          const again = await l.publishWeights({ readerHost: await r.hostId() }); // the confirmed file, handed out again
          const header = readHeader(again.location);
          assert.deepEqual(header.map((h) => h.name).sort(), [...adapters.keys()].sort(), "the file holds the adapters alone");
          assert.ok(header.every((h) => h.dtype === "F32"));
          assert.equal(header.reduce((a, h) => a + h.end - h.begin, 0), adapterBytes);
          assert.deepEqual(again.lora, loraInfo(LORA));
        }
        previous = want;
      }
      // A full version in between (here the merged v3, as the driver's setWeights fallback sends)
      // replaces the live weights, not the base: the next adapter version still merges into the start model.
      await r.setWeights(previous, 10);
      await l.trainStep(BATCH);
      const v4 = (await l.weights()).tensors;
      await syncWeights(l, r, "shm");
      assertClose(await engineWeights(r), v4, "an adapter version after a full version");
      // A fresh engine that took a full version before its first adapter version reads its base from its folder.
      const r2 = new RolloutEngine({ modelDir: models.base, engine: to, maxPromptTokens: 64, threads: 1, maxBatch: 2, weightSync: { runId: `${id}-2` } });
      try {
        await r2.setWeights(previous, 3);
        await syncWeights(l, r2, "inline");
        assertClose(await engineWeights(r2), v4, "the first adapter version after a full version");
      } finally {
        await r2.close();
      }
    } finally {
      await l.close();
      await r.close();
    }
  });
}

test("LoRA weight sync - handles say their kind; an adapter version is refused by an engine that cannot merge, naming the fix", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loader = new WeightLoader({ runId: id });
  const tensors = async () => new Map([["w", new Float32Array([1, 2])]]);
  const full = await pub.publish(1, { writeFile: async () => assert.fail("inline"), tensors }, { transport: "inline" });
  assert.equal(full.kind, "full");
  assert.equal(full.lora, undefined);
  const adapters = async () => new Map([[`${PEFT}model.layers.0.mlp.up_proj.lora_A.weight`, new Float32Array(4)], [`${PEFT}model.layers.0.mlp.up_proj.lora_B.weight`, new Float32Array(4)]]);
  const h = await pub.publish(2, { writeFile: async () => assert.fail("inline"), tensors: adapters, lora: loraInfo({ r: 2, alpha: 4, targetModules: ["up_proj"] }) }, { transport: "inline" });
  assert.equal(h.kind, "lora-adapters");
  assert.deepEqual(h.lora, { r: 2, alpha: 4, scale: 2, targetModules: ["up_proj"] });
  const fullOnly = { loadFile: async () => assert.fail("must not load"), setTensors: async () => assert.fail("must not load") };
  await assert.rejects(loader.load(h, fullOnly), (e: Error) => e instanceof WeightSyncError && /holds LoRA adapters only.*sync full weights/.test(e.message));
  const noSettings: WeightHandle = { ...h, lora: undefined };
  await assert.rejects(loader.load(noSettings, { ...fullOnly, setAdapters: async () => {}, loadAdaptersFile: async () => {} }), /no lora settings/);
  await pub.dispose();
  await loader.dispose();
});

for (const engine of ["ort", "torch"] as const) {
  test(`LoRA learner (${engine}) - a checkpoint loads back into a fresh learner (the base from modelDir, the adapters from the checkpoint); exportModel writes the merged model`, { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "azr-lora-learner-"));
    const opts = { modelDir: models.base, engine, trainer: TRAINER, steps: 10, threads: 1, weightSync: { runId: runId() } };
    const l = new Learner(opts);
    const again = new Learner({ ...opts, weightSync: { runId: runId() } });
    try {
      await l.trainStep(BATCH);
      await l.trainStep(BATCH);
      await l.save(join(dir, "ckpt"));
      const want = (await l.weights()).tensors;
      await again.load(join(dir, "ckpt"));
      assert.equal((await again.stats()).version, 2);
      assertClose((await again.weights()).tensors, want, "merged weights after load");
      assert.ok(maxDiff(want, loadModel(models.base).weights) > 1e3 * TOL, "the adapters moved the weights");
      await l.exportModel(join(dir, "export"));
      assertClose(loadModel(join(dir, "export")).weights, want, "exported model");
    } finally {
      await l.close();
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

