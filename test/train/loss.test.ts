/**
 * The policy-gradient loss graph on a toy batch against the hand-written reference of azr/loss.ts
 * (the spec's formulas on plain numbers): advantages of both signs, ratios clipped on both sides,
 * dual clip, each KL estimator, each aggregation; and its gradient w.r.t. the logits against
 * finite differences.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import ort from "onnxruntime-node";
import { Graph } from "../../model/graph/builder.ts";
import { serializeGraph } from "../../model/graph/serialize.ts";
import { gradients, prune } from "../../model/train/grad/backward.ts";
import { buildLoss, type PolicyLossSettings } from "../../model/train/losses.ts";
import { tokenWeights } from "../../model/train/aggregate.ts";
import { aggregateLoss, klEstimate, tokenLoss } from "../../azr/loss.ts";

const V = 5;
// Two sequences of 3 and 2 tokens; old log-probs chosen so ratios land below, inside and above the clip range.
const SEQS = [
  { logits: [[2, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 3, 0, 1]], targets: [0, 1, 2], adv: [1.5, -0.7, -2], oldShift: [0.6, -0.5, 0.05] },
  { logits: [[0, 0, 0, 2, 0], [1, 1, 1, 1, 1]], targets: [3, 4], adv: [0.4, -1.1], oldShift: [-0.9, 0.4] },
];

const logSoftmax = (row: number[]) => {
  const m = Math.max(...row), lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
};

async function session(s: PolicyLossSettings) {
  const g = new Graph("pg");
  const logits = g.input("logits", "float32", ["M", V]);
  const l = buildLoss(g, logits, s, true);
  const grad = gradients(g, l.loss, [logits]).get(logits)!;
  g.output(l.loss, "loss");
  for (const [k, v] of Object.entries(l.termSums)) g.output(v, `term.${k}`);
  g.output(grad, "dlogits");
  prune(g);
  return ort.InferenceSession.create(serializeGraph(g), { intraOpNumThreads: 1 });
}

async function run(s: PolicyLossSettings, logitsFlat: Float32Array, micro: number[][], sess?: ort.InferenceSession) {
  const own = !sess;
  sess ??= await session(s);
  const seqs = SEQS.map((q) => ({ prompt: [0], response: q.targets }));
  const w = tokenWeights(micro.map((mb) => mb.map((i) => seqs[i])), s);
  const flat = (f: (q: (typeof SEQS)[number], t: number) => number) => Float32Array.from(SEQS.flatMap((q) => q.targets.map((_, t) => f(q, t))));
  const M = 5;
  const feeds = {
    logits: new ort.Tensor("float32", logitsFlat, [M, V]),
    targets: new ort.Tensor("int64", BigInt64Array.from(SEQS.flatMap((q) => q.targets.map(BigInt))), [M]),
    token_weight: new ort.Tensor("float32", Float32Array.from(micro.flatMap((_, k) => [...w[k]])), [M]),
    advantages: new ort.Tensor("float32", flat((q, t) => q.adv[t]), [M]),
    old_logprobs: new ort.Tensor("float32", flat((q, t) => logSoftmax(q.logits[t])[q.targets[t]] + q.oldShift[t]), [M]),
    ref_logprobs: new ort.Tensor("float32", flat((q, t) => logSoftmax(q.logits[t])[q.targets[t]] - q.oldShift[t] / 2), [M]),
  };
  const out = await sess.run(feeds);
  if (own) await sess.release();
  return out;
}

const base: PolicyLossSettings = { kind: "policy", epsLow: 0.2, epsHigh: 0.28, dualClip: null, entropyCoef: 0, klCoef: 0.3, klEstimator: "k1", lossAgg: "token-mean" };
const VARIANTS: PolicyLossSettings[] = [
  base,
  { ...base, klEstimator: "k2", lossAgg: "seq-mean-token-mean" },
  { ...base, klEstimator: "k3", dualClip: 1.5, lossAgg: "microbatch-token-mean" },
  { ...base, logRatioClamp: 0.3 }, // binds: the toy batch's log-ratios reach ±0.9
];

for (const s of VARIANTS) {
  test(`pg loss - ${s.lossAgg}, KL ${s.klEstimator}, dual clip ${s.dualClip}, log-ratio clamp ${s.logRatioClamp ?? 20}: equals azr/loss.ts on a toy batch`, async () => {
    const micro = [[0], [1]]; // each sequence its own micro-batch (matters for microbatch-token-mean)
    const out = await run(s, Float32Array.from(SEQS.flatMap((q) => q.logits.flat())), micro);
    const per = SEQS.map((q) =>
      q.targets.map((tg, t) => {
        const lp = logSoftmax(q.logits[t])[tg], old = lp + q.oldShift[t], ref = lp - q.oldShift[t] / 2;
        return { ...tokenLoss(q.adv[t], lp, old, s), kl: klEstimate(lp, ref, s.klEstimator) };
      }));
    const want = aggregateLoss(per.map((q) => q.map((x) => x.loss + s.klCoef * x.kl)), s.lossAgg, micro);
    // clipfrac counts PPO clipping (the clipped term chosen), not the dual clip — as model/torch reports it.
    const clipped = SEQS.flatMap((q) => q.targets.map((tg, t) => {
      const lp = logSoftmax(q.logits[t])[tg];
      return tokenLoss(q.adv[t], lp, lp + q.oldShift[t], { ...s, dualClip: null }).clipped;
    })).filter(Boolean).length;
    assert.ok(clipped >= 2, `the toy batch should clip tokens on both sides (clipped ${clipped})`);
    if (s.dualClip !== null) {
      const binds = SEQS.flatMap((q) => q.targets.map((tg, t) => {
        const lp = logSoftmax(q.logits[t])[tg], o = lp + q.oldShift[t];
        return tokenLoss(q.adv[t], lp, o, s).loss !== tokenLoss(q.adv[t], lp, o, { ...s, dualClip: null }).loss;
      })).some(Boolean);
      assert.ok(binds, "the dual clip should bind on some token of the toy batch");
    }
    assert.ok(Math.abs(Number(out.loss.data[0]) - want) < 1e-6, `loss ${out.loss.data[0]} vs reference ${want}`);
    const pgSum = per.flat().reduce((a, x) => a + x.loss, 0);
    assert.ok(Math.abs(Number(out["term.pg"].data[0]) - pgSum) < 1e-5, `pg sum ${out["term.pg"].data[0]} vs ${pgSum}`);
    assert.equal(Number(out["term.clipfrac"].data[0]), clipped);
  });
}

test("pg loss - gradient w.r.t. logits matches finite differences (dual clip, k3, entropy bonus)", async () => {
  const s: PolicyLossSettings = { ...base, klEstimator: "k3", dualClip: 1.5, entropyCoef: 0.05 };
  const x = Float32Array.from(SEQS.flatMap((q) => q.logits.flat()), (v, i) => v + 0.01 * Math.sin(i)); // off the kinks
  const sess = await session(s);
  const out = await run(s, x, [[0, 1]], sess);
  const g = out.dlogits.data as Float32Array;
  const eps = 1e-2;
  for (let i = 0; i < x.length; i++) {
    const xp = Float32Array.from(x), xm = Float32Array.from(x);
    xp[i] += eps;
    xm[i] -= eps;
    const fd = (Number((await run(s, xp, [[0, 1]], sess)).loss.data[0]) - Number((await run(s, xm, [[0, 1]], sess)).loss.data[0])) / (2 * eps);
    assert.ok(Math.abs(fd - g[i]) < 2e-3, `d loss / d logits[${i}]: analytic ${g[i]} vs finite difference ${fd}`);
  }
});
