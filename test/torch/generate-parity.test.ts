/**
 * Generation details on which the torch and ORT engines must agree beyond cross-backend.test.ts's
 * greedy tokens (real worker processes, real onnxruntime, random tiny models): the eos ids a model
 * folder names outside config.json, the text of special tokens that are not eos ids, and the
 * requests both refuse.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Generation, GenerateRequest } from "../../model/engine.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { EOS, ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const prompts = [ids("def f(x): return"), ids("ab"), ids("print(f(3))")];

async function collect(it: AsyncIterable<Generation>): Promise<Generation[]> {
  const out: Generation[] = [];
  for await (const g of it) out.push(g);
  return out.sort((a, b) => a.index - b.index);
}
const plain = (gs: Generation[]) => gs.map((g) => ({ tokens: g.tokens, text: g.text, finishReason: g.finishReason, n: g.logprobs.length }));

test("generate parity - generation_config.json's and tokenizer_config.json's eos ids end generation in both backends", async () => {
  const dir = makeModelDir(join(tmp, "eos"), "qwen2", 31);
  const req: GenerateRequest = { prompts, maxNewTokens: 12 };
  let free: Generation[];
  {
    await using torch = await createTorchEngine({ modelDir: dir, threads: 1 });
    free = await collect(torch.generate(req));
  }
  // two tokens greedy decoding reaches mid-sequence become eos ids: one through generation_config.json
  // (as Qwen2.5/Qwen3 instruct add <|endoftext|>), one as tokenizer_config.json's eos_token
  const a = free[0]!.tokens[3]!;
  const b = free[1]!.tokens.slice(2).find((t) => t !== a && t !== EOS)!;
  assert.ok(a !== EOS && b !== undefined, `usable tokens in ${JSON.stringify(free.map((g) => g.tokens))}`);
  const vocab = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")).model.vocab as Record<string, number>;
  const bText = Object.entries(vocab).find(([, i]) => i === b)![0];
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [EOS, a] }));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: bText }));
  // and a special token that is not an eos id (sequence 2's first token): ORT's text keeps its content
  const c = free[2]!.tokens[0]!;
  assert.ok(![a, b, EOS].includes(c));
  const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  tj.added_tokens.push({ id: c, content: "<|c|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tj));

  await using torch = await createTorchEngine({ modelDir: dir, threads: 1 });
  const ort = await OrtEngine.fromPretrained(dir, { threads: 1 });
  try {
    assert.deepEqual(new Set(torch.info.eosTokenIds), new Set([EOS, a, b]));
    const [t, o] = [await collect(torch.generate(req)), await collect(ort.generate(req))];
    for (const g of t.slice(0, 2)) assert.equal(g.finishReason, "eos");
    assert.ok(t[0]!.tokens.length <= 4 && t[1]!.tokens.length < free[1]!.tokens.length);
    assert.ok(t[2]!.text.startsWith("<|c|>"), t[2]!.text);
    assert.deepEqual(plain(t), plain(o));
  } finally {
    await ort.dispose();
  }
});

test("generate parity - requests the ORT engine refuses are refused by torch too, which keeps serving", async () => {
  const dir = makeModelDir(join(tmp, "refuse"), "llama", 5);
  await using torch = await createTorchEngine({ modelDir: dir, threads: 1 });
  const ort = await OrtEngine.fromPretrained(dir, { threads: 1 });
  try {
    const p = [ids("ab")];
    const bad: GenerateRequest[] = [
      { prompts: p, maxNewTokens: 4, temperature: -1 },
      { prompts: p, maxNewTokens: 4, temperature: Number.NaN },
      { prompts: p, maxNewTokens: 4, temperature: 1, topP: 0 },
      { prompts: p, maxNewTokens: 4, temperature: 1, topP: 1.5 },
      { prompts: p, maxNewTokens: 4, temperature: 1, topK: -1 },
      { prompts: p, maxNewTokens: 2.5 },
      { prompts: [[...p[0]!, 300]], maxNewTokens: 4 }, // vocab is 300
      { prompts: [[...p[0]!, -1]], maxNewTokens: 4 },
    ];
    for (const req of bad) {
      await assert.rejects(collect(ort.generate(req)), Error, `ort accepted ${JSON.stringify(req)}`);
      await assert.rejects(collect(torch.generate(req)), /generate: (temperature|topP|topK|maxNewTokens|prompt 0 has token id)/, `torch accepted ${JSON.stringify(req)}`);
    }
    await assert.rejects(torch.score({ prompts: p, responses: [[98, 300]] }), /score: response 0 has token id 300 at position 1, outside the vocabulary/);
    const req = { prompts: p, maxNewTokens: 6 };
    assert.deepEqual(plain(await collect(torch.generate(req))), plain(await collect(ort.generate(req))));
  } finally {
    await ort.dispose();
  }
});
