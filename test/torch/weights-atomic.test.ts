/**
 * A weight version that turns out wrong is refused whole: setWeights and loadWeightsFile check
 * every tensor before copying any, so the engine keeps serving the version it had (real workers).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const req = { prompts: [ids("def f(x):"), ids("ab")], responses: [ids(" return x").slice(1), ids("cd").slice(1)] };

test("weights - a bad tensor late in a version changes no parameter (setWeights, loadWeightsFile)", async () => {
  await using a = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "a"), "qwen2", 1), threads: 1 });
  await using b = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "b"), "qwen2", 2), threads: 1 });
  const before = await a.score(req);

  // b's weights with the last tensor one value short
  const w = await b.getWeights();
  const names = [...w.keys()];
  const last = names[names.length - 1]!;
  w.set(last, w.get(last)!.subarray(1));
  await assert.rejects(a.setWeights(w, 1), new RegExp(`setWeights: ${last.replace(/\./g, "\\.")} has \\d+ values`));
  assert.deepEqual(await a.score(req), before);

  // b's weights file cut short: its last tensor runs past the end
  const file = join(tmp, "b.safetensors");
  await b.saveWeightsFile(file);
  truncateSync(file, statSync(file).size - 8);
  await assert.rejects(a.loadWeightsFile(file, 2), /runs past the end of the file/);
  assert.deepEqual(await a.score(req), before);
  assert.equal(a.weightVersion, 0);
});

test("weights - setWeights in several parts: a bad tensor in a later part leaves the earlier parts uninstalled", async () => {
  await using a = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "pa"), "qwen2", 3), threads: 1 });
  await using b = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "pb"), "qwen2", 4), threads: 1 });
  const before = await a.score(req);
  const good = await b.getWeights();
  const partBytes = 32 * 1024; // several parts for the fixture model (the default is 256 MiB)
  const total = [...good.values()].reduce((n, t) => n + t.byteLength, 0);
  assert.ok(total > 4 * partBytes, `the version (${total} bytes) spans several parts`);

  // the last tensor one value short: refused in the last part, after the others were sent
  const bad = new Map(good);
  const last = [...bad.keys()].pop()!;
  bad.set(last, bad.get(last)!.subarray(1));
  await assert.rejects(a.setWeights(bad, 1, { partBytes }), new RegExp(`setWeights: ${last.replace(/\./g, "\\.")} has \\d+ values`));
  assert.deepEqual(await a.score(req), before);
  assert.equal(a.weightVersion, 0);

  // the same version sent whole afterwards installs every tensor (nothing left over from the refused one)
  await a.setWeights(good, 2, { partBytes });
  assert.deepEqual(await a.score(req), await b.score(req));
  assert.equal(a.weightVersion, 2);
});

test("weights - a setWeights part that comes without the parts before it is refused, changing nothing", async () => {
  await using a = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "qa"), "qwen2", 5), threads: 1 });
  const before = await a.score(req);
  const w = await a.getWeights();
  const [name, t] = [...w][0]!;
  const data = new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  await assert.rejects(a.worker.call("set_weights", { tensors: { [name]: { data: new Uint8Array(data.length) } }, version: 7, part: 1, final: true }),
    /setWeights: part 1 of version 7 came without the parts before it .*send the version again from its first part/);
  assert.deepEqual(await a.score(req), before);
});
