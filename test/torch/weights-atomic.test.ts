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
