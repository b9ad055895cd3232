/**
 * The two training losses, as graph pieces over the logits of the M loss tokens of a micro-batch
 * (rows gathered before the LM head, so prompt positions never reach the vocabulary matmul):
 *   cross-entropy — Σ_t w_t · (−log π_θ(y_t)), for pretraining (w_t: per-token weights, normalised
 *                   by the trainer over the step);
 *   policy gradient — azr-spec §7.2: ρ = exp(clamp(log π_θ − log π_old, ±20)),
 *                   ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high)), optional dual clip min(ℓ, −A·c)
 *                   for A < 0, optional KL (k1 Δ, k2 ½Δ², k3 e^{−Δ}+Δ−1, Δ = log π_θ − log π_ref)
 *                   and entropy bonus; loss = Σ_t w_t (ℓ_t + β·kl_t − c_H·H_t).
 * The aggregation (token-mean, microbatch-token-mean, seq-mean-token-mean) lives entirely in the
 * weights w_t that the trainer feeds (./aggregate.ts), so micro-batch gradients simply add up.
 * Term outputs are plain sums over the micro-batch's tokens (the trainer reports token means, as
 * the PyTorch backend does). Names of settings match model/torch and azr/loss.ts.
 * Not: value losses (TRR++ has no critic), sequence-level ratios (GSPO).
 */
import type { Graph, Value } from "../graph/builder.ts";
import { detach } from "./grad/backward.ts";

export type LossAgg = "token-mean" | "microbatch-token-mean" | "seq-mean-token-mean";
export type KlEstimator = "k1" | "k2" | "k3";

export interface PolicyLossSettings {
  kind: "policy";
  epsLow: number;
  epsHigh: number;
  /** Dual-clip constant c > 1 for A < 0; null = off. */
  dualClip: number | null;
  entropyCoef: number;
  klCoef: number;
  klEstimator: KlEstimator;
  lossAgg: LossAgg;
  /** |log π_θ − log π_old| bound before exp (`trainer.logRatioClamp`); default LOG_RATIO_CLAMP (20). */
  logRatioClamp?: number;
}

export interface CrossEntropySettings {
  kind: "cross-entropy";
}

export type LossSettings = PolicyLossSettings | CrossEntropySettings;

/** azr-spec §7.2 defaults (the paper branch). */
export const DEFAULT_POLICY_LOSS: PolicyLossSettings = {
  kind: "policy", epsLow: 0.2, epsHigh: 0.2, dualClip: null, entropyCoef: 0.001, klCoef: 0, klEstimator: "k3", lossAgg: "token-mean",
};

export const LOG_RATIO_CLAMP = 20;

export interface LossGraph {
  loss: Value; // scalar
  /** Per-micro-batch sums of each reported term (scalars), by name. */
  termSums: Record<string, Value>;
  /** log π_θ of each loss token [M]. */
  logprobs: Value;
}

const sumAll = (g: Graph, x: Value, hint?: string) => g.reduceSum(x, [0], false, hint); // [M] → scalar

/** min/max/clamp as Where over Less: differentiable by the Where rule, ties go to `a`. */
const maxOf = (g: Graph, a: Value, b: Value) => g.where(g.less(a, b), b, a);
const minOf = (g: Graph, a: Value, b: Value) => g.where(g.less(b, a), b, a);
const clamp = (g: Graph, x: Value, lo: number, hi: number) => minOf(g, maxOf(g, x, g.scalar(lo)), g.scalar(hi));

/**
 * Adds the loss over `logits` [M,V]. Inputs it declares: targets [M] int64, token_weight [M];
 * for the policy loss also advantages [M], old_logprobs [M] (when `hasOld`), ref_logprobs [M]
 * (when klCoef ≠ 0).
 */
export function buildLoss(g: Graph, logits: Value, s: LossSettings, hasOld = true): LossGraph {
  const targets = g.input("targets", "int64", ["M"]);
  const w = g.input("token_weight", "float32", ["M"]);
  const logpAll = g.logSoftmax(logits, -1); // (M,V)
  const logp = g.reshape(g.gatherElements(logpAll, g.unsqueeze(targets, [1]), 1), [-1], "token_logprobs"); // (M)
  if (s.kind === "cross-entropy") {
    const nll = g.neg(logp); // (M)
    return { loss: sumAll(g, g.mul(nll, w), "loss"), termSums: { ce: sumAll(g, nll) }, logprobs: logp };
  }
  const adv = g.input("advantages", "float32", ["M"]);
  const old = hasOld ? g.input("old_logprobs", "float32", ["M"]) : detach(g, logp); // π_old = π_θ, no gradient
  const d = g.sub(logp, old); // (M)
  const bound = s.logRatioClamp ?? LOG_RATIO_CLAMP;
  const ratio = g.exp(clamp(g, d, -bound, bound)); // (M)
  const negAdv = g.neg(adv);
  const unclipped = g.mul(negAdv, ratio);
  const clipped = g.mul(negAdv, clamp(g, ratio, 1 - s.epsLow, 1 + s.epsHigh));
  let pg = maxOf(g, unclipped, clipped);
  if (s.dualClip !== null) {
    const cap = g.mul(negAdv, g.scalar(s.dualClip));
    pg = g.where(g.less(adv, g.scalar(0)), minOf(g, pg, cap), pg);
  }
  const clipfrac = g.cast(g.less(unclipped, clipped), "float32");
  const dd = detach(g, d);
  const approxKl = g.mul(g.mul(dd, dd), g.scalar(0.5));
  // Entropy of the whole next-token distribution: −Σ p log p.
  const entropy = g.neg(g.reshape(g.reduceSum(g.mul(g.exp(logpAll), logpAll), [-1], true), [-1])); // (M)
  let total = pg;
  const termSums: Record<string, Value> = { pg: sumAll(g, pg), clipfrac: sumAll(g, clipfrac), approxKl: sumAll(g, approxKl), entropy: sumAll(g, entropy) };
  if (s.klCoef !== 0) {
    const ref = g.input("ref_logprobs", "float32", ["M"]);
    const delta = g.sub(logp, ref);
    const kl =
      s.klEstimator === "k1" ? delta
      : s.klEstimator === "k2" ? g.mul(g.mul(delta, delta), g.scalar(0.5))
      : g.sub(g.add(g.exp(g.neg(delta)), delta), g.scalar(1));
    termSums.kl = sumAll(g, kl);
    total = g.add(total, g.mul(kl, g.scalar(s.klCoef)));
  }
  if (s.entropyCoef !== 0) total = g.sub(total, g.mul(entropy, g.scalar(s.entropyCoef)));
  return { loss: sumAll(g, g.mul(total, w), "loss"), termSums, logprobs: logp };
}
