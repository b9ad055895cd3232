/**
 * The torch engine refuses a generate request that would run past the model's positions, up
 * front, as the ORT engine does (model/generate/loop.ts): its RoPE is computed for any position,
 * so without the check it decoded on past max_position_embeddings (512 in the fixture).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Generation } from "../../model/engine.ts";
import { createTorchEngine, type TorchEngine } from "../../model/torch/engine.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
let engine: TorchEngine;

before(async () => {
  engine = await createTorchEngine({ modelDir: makeModelDir(join(tmp, "m"), "qwen2", 3), threads: 1 });
});
after(() => engine?.dispose());

async function collect(it: AsyncIterable<Generation>): Promise<Generation[]> {
  const out: Generation[] = [];
  for await (const g of it) out.push(g);
  return out;
}

test("generate - longest prompt + maxNewTokens past max_position_embeddings is refused up front, naming both", async () => {
  const long = ids("a".repeat(499)); // 500 tokens with BOS
  const prompts = [ids("b"), long];
  await assert.rejects(collect(engine.generate({ prompts, maxNewTokens: 13 })),
    /prompt \(500 tokens\) \+ maxNewTokens \(13\) exceeds the model's max_position_embeddings 512 .*lower maxNewTokens/);
  // exactly at the limit is fine, and the engine still serves after the refusal
  const gs = await collect(engine.generate({ prompts, maxNewTokens: 12 }));
  assert.equal(gs.length, 2);
  assert.ok(gs.every((g) => g.tokens.length >= 1 && g.tokens.length <= 12));
});
