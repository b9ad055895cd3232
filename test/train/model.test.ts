/**
 * Whole-model gradients of the training graph: small Qwen2/Llama/Qwen3-shaped models, the
 * policy-gradient loss of azr-spec §7.2 (clipping on both sides, dual clip, KL, entropy) and the
 * weighted cross-entropy, against PyTorch float64 autograd of an independent forward pass on the
 * same weights and batch; and against finite differences of our own loss.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { torchTrain } from "./torch.ts";
import { loadModel } from "../../model/checkpoint.ts";
import { TrainCore, type TrainItem } from "../../model/train/core.ts";
import type { LossSettings, PolicyLossSettings } from "../../model/train/losses.ts";
import { smallConfigs, writeRandomModel } from "../model/fixtures.ts";


/** max |a − b| / max |b| over a tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return s === 0 ? d : d / s;
}

function noise(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

const BATCH: TrainItem[] = [
  { prompt: [5, 17, 33, 2], response: [90, 41, 8, 8, 61] },
  { prompt: [44, 1, 9, 70, 71, 72], response: [12, 77] },
  { prompt: [3], response: [50, 51, 52, 53] },
];

function compare(name: string, ours: { loss: number; terms: Record<string, number>; grads: Map<string, Float32Array> }, ref: any, tol: number) {
  assert.ok(Math.abs(ours.loss - ref.loss) <= tol * Math.max(1, Math.abs(ref.loss)), `${name}: loss ${ours.loss} vs PyTorch ${ref.loss}`);
  for (const [t, v] of Object.entries(ref.terms as Record<string, number>))
    assert.ok(Math.abs(ours.terms[t] - v) <= tol * Math.max(1, Math.abs(v)), `${name}: term ${t} ${ours.terms[t]} vs PyTorch ${v}`);
  let worst = 0, worstName = "";
  for (const [n, g] of ours.grads) {
    const r = ref.grads[n] as number[] | undefined;
    assert.ok(r, `${name}: PyTorch has no gradient for ${n}`);
    const e = relErr(g, r);
    if (e > worst) [worst, worstName] = [e, n];
  }
  assert.ok(worst <= tol, `${name}: gradient of ${worstName} off by ${worst.toExponential(2)} (relative to its largest entry)`);
  return worst;
}

const policy: PolicyLossSettings = { kind: "policy", epsLow: 0.2, epsHigh: 0.28, dualClip: 3, entropyCoef: 0.01, klCoef: 0.1, klEstimator: "k3", lossAgg: "token-mean" };

type Ours = Awaited<ReturnType<TrainCore["accumulate"]>>;
interface Case { name: string; ours: Ours; req: object; check?: (ref: any) => void }

/** Policy loss on a batch whose old/ref log-probs are the current ones perturbed, so clipping happens on both sides. */
async function policyCase(family: "llama" | "qwen3"): Promise<Case> {
  const { dir } = writeRandomModel(smallConfigs[family], 3);
  const { config, weights } = loadModel(dir);
  const core = new TrainCore({ config, weights, loss: policy, optim: { microBatch: 2 }, threads: 1 });
  const u = noise(7);
  const zeros = (s: TrainItem) => new Float32Array(s.response.length);
  const first = await core.micro(BATCH.map((s) => ({ ...s, advantages: zeros(s), refLogprobs: zeros(s) })), new Float32Array(11).fill(1 / 11));
  let m = 0;
  const batch = BATCH.map((s) => {
    const n = s.response.length, lp = first.logprobs.subarray(m, m + n);
    m += n;
    return {
      ...s,
      advantages: Float32Array.from({ length: n }, () => u() * 2),
      oldLogprobs: Float32Array.from(lp, (x) => x + 0.5 * u()),
      refLogprobs: Float32Array.from(lp, (x) => x + 0.3 * u()),
    };
  });
  const ours = await core.accumulate(batch);
  await core.dispose();
  const req = {
    mode: "grad", dir, loss: policy,
    batch: batch.map((s) => ({ prompt: s.prompt, response: s.response, advantages: [...s.advantages], old: [...s.oldLogprobs], ref: [...s.refLogprobs] })),
  };
  const check = (ref: any) => assert.ok(ref.terms.clipfrac > 0.05 && ref.terms.clipfrac < 0.95, `the batch should clip some tokens, clipfrac ${ref.terms.clipfrac}`);
  return { name: `${family}: policy-gradient loss (clip ε 0.2/0.28, dual clip 3, k3 KL, entropy), token-mean`, ours, req, check };
}

async function crossEntropyCase(): Promise<Case> {
  const { dir } = writeRandomModel(smallConfigs.qwen2, 5);
  const { config, weights } = loadModel(dir);
  const core = new TrainCore({ config, weights, loss: { kind: "cross-entropy" }, optim: { microBatch: 2 }, threads: 1 });
  const batch = BATCH.map((s, i) => ({ ...s, lossWeights: s.response.map((_, j) => (i === 0 && j > 2 ? 3 : 1)) }));
  const ours = await core.accumulate(batch);
  await core.dispose();
  return { name: "qwen2 (tied, q/k/v bias): weighted cross-entropy over 2 micro-batches", ours, req: { mode: "grad", dir, loss: { kind: "cross-entropy" }, batch } };
}

async function seqMeanCase(): Promise<Case> {
  const { dir } = writeRandomModel(smallConfigs.llama, 9);
  const { config, weights } = loadModel(dir);
  const loss: LossSettings = { ...policy, klCoef: 0, lossAgg: "seq-mean-token-mean", dualClip: null };
  const core = new TrainCore({ config, weights, loss, optim: { microBatch: 3 }, threads: 1 });
  const u = noise(3);
  const batch = BATCH.map((s) => ({ ...s, advantages: Float32Array.from(s.response, () => u()) }));
  const ours = await core.accumulate(batch);
  await core.dispose();
  return { name: "llama: seq-mean-token-mean with π_old = π_θ (no old log-probs)", ours, req: { mode: "grad", dir, loss, batch: batch.map((s) => ({ ...s, advantages: [...s.advantages] })) } };
}

/** An empty response in the batch and a batch (4) that micro-batches of 3 do not divide. */
async function emptyResponseCase(): Promise<Case> {
  const { dir } = writeRandomModel(smallConfigs.qwen2, 21);
  const { config, weights } = loadModel(dir);
  const loss: LossSettings = { ...policy, klEstimator: "k2", lossAgg: "seq-mean-token-mean" };
  const core = new TrainCore({ config, weights, loss, optim: { microBatch: 3 }, threads: 1 });
  const u = noise(5);
  const batch = [BATCH[0], { prompt: [8, 9], response: [] }, BATCH[1], BATCH[2]].map((s) => ({
    ...s, advantages: Float32Array.from(s.response, () => u()), refLogprobs: Float32Array.from(s.response, () => -4.5 + u()),
  }));
  const ours = await core.accumulate(batch);
  await core.dispose();
  return {
    name: "qwen2: seq-mean-token-mean, k2 KL, an empty response, 4 sequences in micro-batches of 3", ours,
    req: { mode: "grad", dir, loss, batch: batch.map((s) => ({ prompt: s.prompt, response: s.response, advantages: [...s.advantages], ref: [...s.refLogprobs] })) },
  };
}

/**
 * Responses sharing a prompt (self-play's learnability samples): packed as branches of one row
 * (model/train/pack.ts), a repeat of the prompt out of order, an empty response among them, a
 * one-token prompt, in one micro-batch and across two. The per-token log-probs come back in
 * sequence order, each equal to its sequence alone.
 */
async function sharedPromptCase(microBatch: number): Promise<Case> {
  const { dir } = writeRandomModel(smallConfigs.qwen3, 23);
  const { config, weights } = loadModel(dir);
  const loss: LossSettings = { ...policy, lossAgg: "seq-mean-token-mean" };
  const core = new TrainCore({ config, weights, loss, optim: { microBatch }, threads: 1 });
  const u = noise(11);
  const a = [7, 3, 3, 60, 2], b = [19, 4];
  const raw = [
    { prompt: a, response: [90, 41, 8] }, { prompt: b, response: [5, 6, 7, 8] }, { prompt: a, response: [12] },
    { prompt: a, response: [] }, { prompt: [33], response: [1, 2] }, { prompt: a, response: [90, 41, 9, 9, 9] }, { prompt: b, response: [6] },
  ];
  const batch = raw.map((s) => ({ ...s, advantages: Float32Array.from(s.response, () => u()), refLogprobs: Float32Array.from(s.response, () => -4.5 + u()) }));
  const ours = await core.accumulate(batch);
  const { logprobs } = await core.micro(batch, new Float32Array(16).fill(1 / 16));
  await core.dispose();
  const check = (ref: any) => {
    const flat = (ref.logprobs as number[][]).flat();
    assert.equal(logprobs.length, flat.length);
    assert.ok(relErr(logprobs, flat) <= 1e-5, `token log-probs off by ${relErr(logprobs, flat)} (order or context)`);
  };
  return {
    name: `qwen3: responses sharing prompts packed as branches, micro-batch ${microBatch}`, ours, check,
    req: { mode: "grad", dir, loss, batch: batch.map((s) => ({ prompt: s.prompt, response: s.response, advantages: [...s.advantages], ref: [...s.refLogprobs] })) },
  };
}

const cases: Case[] = [];
let refs: any[] = [];
before(async () => {
  cases.push(await policyCase("llama"), await policyCase("qwen3"), await crossEntropyCase(), await seqMeanCase(), await emptyResponseCase(), await sharedPromptCase(7), await sharedPromptCase(4));
  refs = torchTrain({ requests: cases.map((c) => c.req) }).results;
});

for (let i = 0; i < 7; i++)
  test(`train graph - case ${i}: loss, terms and every gradient match PyTorch float64 autograd within 1e-4`, () => {
    const c = cases[i];
    c.check?.(refs[i]);
    const worst = compare(c.name, c.ours, refs[i], 1e-4);
    console.log(`${c.name}: worst gradient error ${worst.toExponential(2)}`);
  });

test("train graph - gradients agree with finite differences of the loss (fp32, largest entries)", async () => {
  const { dir } = writeRandomModel(smallConfigs.qwen2, 13);
  const { config, weights } = loadModel(dir);
  const core = new TrainCore({ config, weights, loss: { kind: "cross-entropy" }, optim: { microBatch: 8 }, threads: 1 });
  const { grads } = await core.accumulate(BATCH);
  const lossAt = async () => (await core.accumulate(BATCH)).loss;
  for (const name of ["model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.k_proj.bias", "model.embed_tokens.weight"]) {
    const g = Float32Array.from(grads.get(name)!);
    let k = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[k])) k = i;
    const w = weights.get(name)!, orig = w[k], eps = 1e-2;
    w[k] = orig + eps; const lp = await lossAt();
    w[k] = orig - eps; const lm = await lossAt();
    w[k] = orig;
    const fd = (lp - lm) / (2 * eps);
    assert.ok(Math.abs(fd - g[k]) <= 2e-2 * Math.abs(g[k]) + 1e-4, `${name}[${k}]: analytic ${g[k]} vs finite difference ${fd}`);
  }
  await core.dispose();
});

test("train graph - recomputing activations per layer gives the same loss and gradients, with more nodes", async () => {
  const { dir } = writeRandomModel(smallConfigs.qwen3, 17);
  const { config, weights } = loadModel(dir);
  const batch = BATCH.map((s) => ({ ...s, advantages: Float32Array.from(s.response, (_, j) => (j % 2 ? 1 : -0.5)) }));
  const keep = new TrainCore({ config, weights, loss: policy, optim: { microBatch: 3 }, threads: 1 });
  const redo = new TrainCore({ config, weights, loss: policy, optim: { microBatch: 3 }, threads: 1, recompute: true });
  const withRef = batch.map((s) => ({ ...s, refLogprobs: new Float32Array(s.response.length).fill(-4.5) }));
  const a = await keep.accumulate(withRef), b = await redo.accumulate(withRef);
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.abs(a.loss), `loss ${a.loss} vs recomputed ${b.loss}`);
  for (const [n, ga] of a.grads) assert.ok(relErr(b.grads.get(n)!, ga) <= 1e-5, `${n}: recomputed gradient differs by ${relErr(b.grads.get(n)!, ga)}`);
  const { buildTrainGraph } = await import("../../model/train/graph.ts");
  const count = (recompute: boolean) => buildTrainGraph({ config, loss: policy, hasOld: false, recompute }).graph.nodes.length;
  assert.ok(count(true) > count(false), "recomputation should add the copied forward nodes");
  await keep.dispose();
  await redo.dispose();
});
