/**
 * The two backends agree on the same weights: for random Qwen2-, Llama- (llama3 RoPE, untied) and
 * Qwen3-shaped safetensors, the torch engine's per-token log-probs equal the ORT engine's (fp32,
 * max relative error ≤ 1e-4, issue 11) and greedy generation picks the same tokens.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Generation } from "../../model/engine.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const prompts = [ids("def f(x): return"), ids("ab"), ids("print(f(3))")];
const responses = [ids(" x * 2\n").slice(1), ids("cdefgh").slice(1), ids("# 6").slice(1)];

async function collect(it: AsyncIterable<Generation>): Promise<number[][]> {
  const out: Generation[] = [];
  for await (const g of it) out.push(g);
  return out.sort((a, b) => a.index - b.index).map((g) => g.tokens);
}

for (const arch of ["qwen2", "llama", "qwen3"] as const) {
  test(`cross-backend - torch and ort agree on ${arch} (log-probs ≤ 1e-4 relative, greedy tokens equal)`, async () => {
    const dir = makeModelDir(join(tmp, arch), arch, 31);
    await using torch = await createTorchEngine({ modelDir: dir, threads: 1 });
    const ort = await OrtEngine.fromPretrained(dir, { threads: 1 });
    try {
      const [a, b] = [await torch.score({ prompts, responses }), await ort.score({ prompts, responses })];
      let worst = 0;
      a.forEach((row, i) => row.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i]![j]!) / Math.max(1, Math.abs(b[i]![j]!))); }));
      assert.ok(worst <= 1e-4, `max relative log-prob difference ${worst}`);
      const req = { prompts, maxNewTokens: 12 };
      assert.deepEqual(await collect(torch.generate(req)), await collect(ort.generate(req)));
    } finally {
      await ort.dispose();
    }
  });
}
