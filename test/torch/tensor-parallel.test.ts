/**
 * Tensor-parallel inference (model/torch/azr_torch/tensor_parallel.py driven by ranks.ts) on CPU
 * with two gloo ranks and real Python workers, against one plain engine on the same folder:
 * greedy and seeded-sampled generations give the same tokens (log-probs to 1e-5), with stop
 * strings; scores agree; a weight-sync file, setWeights frames and a LoRA learner's adapter version
 * each reach both the same way; a stream left early leaves the ranks in step for the next call;
 * a model whose heads do not divide over the ranks, and training on a rank, are refused by name.
 * Qwen2 (q/k/v biases, tied lm_head), Llama (untied, rope scaling) and Qwen3 (q/k norm, head_dim
 * != hidden / heads) layouts.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Generation, TrainSequence } from "../../model/engine.ts";
import { createTorchEngine, type TorchEngine } from "../../model/torch/engine.ts";
import { createTorchRankGroup, type TorchRankGroup } from "../../model/torch/ranks.ts";
import { childProcesses } from "../helpers/processes.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-tp-");
after(() => assert.deepEqual(childProcesses("azr_torch.worker"), [], "no torch worker outlives the tests"));

const prompts = [ids("def f(x):"), ids("a = [1, 2"), ids("print(")];
const opts = { threads: 1, maxBatch: 2 } as const; // 3 prompts over 2 slots: one joins as another finishes

async function all(gen: AsyncIterable<Generation>): Promise<Generation[]> {
  const out: Generation[] = [];
  for await (const g of gen) out.push(g);
  return out.sort((a, b) => a.index - b.index);
}

function assertSameGenerations(a: Generation[], b: Generation[], what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((g, i) => {
    assert.deepEqual(g.tokens, b[i]!.tokens, `${what}: prompt ${g.index} tokens`);
    assert.equal(g.finishReason, b[i]!.finishReason, `${what}: prompt ${g.index} finish`);
    g.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - b[i]!.logprobs[j]!) <= 1e-5, `${what}: prompt ${g.index} token ${j} log-prob ${lp} vs ${b[i]!.logprobs[j]}`));
  });
}

async function assertSameScores(group: TorchRankGroup, single: TorchEngine, what: string): Promise<void> {
  const req = { prompts, responses: [ids(" return x").slice(1), ids(", 3]").slice(1), ids("'hi')").slice(1)] };
  const [a, b] = [await group.score(req), await single.score(req)];
  a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i]![j]!) <= 1e-5, `${what}: score ${i}/${j}: ${v} vs ${b[i]![j]}`)));
}

for (const arch of ["qwen2", "llama", "qwen3"] as const) {
  test(`${arch}: two tensor-parallel ranks generate and score like one engine, and take weight versions alike`, async () => {
    const modelDir = makeModelDir(join(tmp, arch), arch, 11);
    const other = makeModelDir(join(tmp, `${arch}-other`), arch, 12);
    await using single = await createTorchEngine({ modelDir, ...opts });
    await using group = await createTorchRankGroup({ modelDir, worldSize: 2, tensorParallel: true, ...opts });
    assert.deepEqual(group.info.distributed, { rank: 0, worldSize: 2, backend: "gloo", fsdp: false, tensorParallel: true });
    assert.equal(group.info.parameters, single.info.parameters, "a rank reports the whole model's parameter count");

    const greedy = { prompts, maxNewTokens: 12, stop: ["\n\n"] };
    assertSameGenerations(await all(group.generate(greedy)), await all(single.generate(greedy)), "greedy");
    const sampled = { prompts, maxNewTokens: 12, temperature: 1, topP: 0.9, seed: 5 };
    assertSameGenerations(await all(group.generate(sampled)), await all(single.generate(sampled)), "sampled");
    await assertSameScores(group, single, "start weights");

    // a stream left after its first sequence, or aborted by the caller: every rank stops, and the next call pairs up again
    for await (const _ of group.generate({ prompts, maxNewTokens: 40 })) break;
    const abort = new AbortController();
    await assert.rejects(async () => { for await (const _ of group.generate({ prompts, maxNewTokens: 40 }, abort.signal)) abort.abort(new Error("caller gave up")); }, /caller gave up/);
    await assert.rejects(async () => { for await (const _ of group.generate({ prompts, maxNewTokens: 4 }, abort.signal)); }, /caller gave up/, "an already aborted signal starts nothing");
    assertSameGenerations(await all(group.generate(greedy)), await all(single.generate(greedy)), "after an early stop");

    // a full weight version as a file (what a learner on this host publishes) and as frames
    await using donor = await createTorchEngine({ modelDir: other, threads: 1 });
    const file = join(tmp, `${arch}-v1.safetensors`);
    await donor.saveWeightsFile(file);
    await group.loadWeightsFile(file, 1);
    await single.loadWeightsFile(file, 1);
    assert.equal(group.weightVersion, 1);
    await assertSameScores(group, single, "weights file");
    const frames = await createTorchEngine({ modelDir, threads: 1 }).then(async (e) => { try { return await e.getWeights(); } finally { await e.dispose(); } });
    await group.setWeights(frames, 2);
    await single.setWeights(frames, 2);
    await assertSameScores(group, single, "setWeights");
    assertSameGenerations(await all(group.generate(sampled)), await all(single.generate(sampled)), "sampled after setWeights");

    // a LoRA learner's adapter version (non-zero B after one step), merged into the start model
    await using learner = await createTorchEngine({ modelDir, threads: 1, lora: { rank: 4, alpha: 8 }, optim: { lr: 1e-2 } });
    const response = ids(" ok").slice(1);
    const batch: TrainSequence[] = prompts.map((prompt, i) => ({ prompt, response, advantages: new Float32Array(response.length).fill(i - 1) }));
    await learner.trainStep(batch);
    const adapters = join(tmp, `${arch}-lora.safetensors`);
    await learner.saveWeightsFile(adapters);
    await group.applyAdaptersFile(adapters, { r: 4, scale: 2 }, 3);
    await single.applyAdaptersFile(adapters, { r: 4, scale: 2 }, 3);
    await assertSameScores(group, single, "LoRA version");
  });
}

test("a stream left or aborted after rank 0's ended but before another rank's end arrived breaks nothing", async () => {
  const modelDir = makeModelDir(join(tmp, "q2-late"), "qwen2", 5);
  await using group = await createTorchRankGroup({ modelDir, worldSize: 2, tensorParallel: true, ...opts });
  const [rank0, rank1] = group.ranks as [TorchEngine, TorchEngine];
  // rank 1's end frame arrives after rank 0's (a busy pipe or event loop): held until the call stops it
  let rank0Ended: () => void = () => {};
  const own0 = rank0.generate.bind(rank0);
  const own1 = rank1.generate.bind(rank1);
  Object.assign(rank0, {
    async *generate(req: Parameters<TorchEngine["generate"]>[0], signal?: AbortSignal) {
      yield* own0(req, signal);
      rank0Ended();
    },
  });
  Object.assign(rank1, {
    async *generate(req: Parameters<TorchEngine["generate"]>[0], signal?: AbortSignal) {
      yield* own1(req, signal);
      await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
      signal?.throwIfAborted();
    },
  });
  const req = { prompts, maxNewTokens: 6 };
  const ended = () => new Promise<void>((resolve) => { rank0Ended = resolve; });
  let gen = ended();
  for await (const _ of group.generate(req)) {
    await gen; // rank 0's stream is over, rank 1's is not: the caller stops reading now
    break;
  }
  gen = ended();
  const abort = new AbortController();
  await assert.rejects(async () => {
    for await (const _ of group.generate(req, abort.signal)) {
      await gen;
      abort.abort(new Error("caller gave up"));
    }
  }, (e: unknown) => e instanceof Error && e.message === "caller gave up", "the caller's reason, not a rank failure");
  delete (rank0 as Partial<TorchEngine>).generate;
  delete (rank1 as Partial<TorchEngine>).generate;
  assert.equal((await all(group.generate(req))).length, 3, "the group still generates");
});

test("tensor parallel refuses what it cannot split or do, by name", async () => {
  const modelDir = makeModelDir(join(tmp, "q2-refuse"), "qwen2", 3);
  // 4 heads and 2 key-value heads do not divide over 3 ranks
  await assert.rejects(createTorchRankGroup({ modelDir, worldSize: 3, tensorParallel: true, threads: 1 }),
    /num_key_value_heads 2 not divisible by 3.*rolloutTensorParallel/s);
  await using group = await createTorchRankGroup({ modelDir, worldSize: 2, tensorParallel: true, threads: 1 });
  const batch: TrainSequence[] = [{ prompt: prompts[0]!, response: ids(" x").slice(1), advantages: new Float32Array(2) }]; // " x": 2 byte tokens
  await assert.rejects(group.trainStep(batch), /trainStep: this engine is a tensor-parallel rollout rank/);
  await assert.rejects(group.saveWeightsFile(join(tmp, "nope.safetensors")), /saveWeightsFile: this engine is a tensor-parallel rollout rank/);
  await assertSameScores(group, await createTorchEngine({ modelDir, threads: 1 }).then((e) => { after(() => e.dispose()); return e; }), "after refusals");
});
