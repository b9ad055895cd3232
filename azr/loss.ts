/**
 * The clipped policy-gradient loss of azr-spec §7.2, per token and aggregated, on plain arrays.
 * The learner computes the same thing inside its graph; this reference version is what its
 * tests compare against, and what a reader checks the formulas on.
 *
 * Covers: ratio ρ = exp(clamp(log π_θ − log π_old, −20, 20)), PPO clipping with separate
 * ε_low / ε_high, optional dual clip for A < 0, the three aggregations, the KL estimators
 * k1 / k2 / k3. Not: gradients, entropy (the engine has the logits).
 *
 * Departures from the paper branch: the ρ clamp to ±20 is an azr safety choice (from the
 * reference's later branch), documented in the spec.
 */

export const LOG_RATIO_CLAMP = 20;

export interface ClipOptions {
  epsLow: number;
  epsHigh: number;
  /** Dual-clip constant c (> 1) for A < 0; null = off. */
  dualClip: number | null;
  /** |log π_θ − log π_old| bound before exp (`trainer.logRatioClamp`); default LOG_RATIO_CLAMP. */
  logRatioClamp?: number;
}

/**
 * ℓ for one token; also whether the PPO clip bound (the clip-fraction metric). The dual clip is not
 * counted, as both engines and verl's pg_clipfrac count it (verl reports it separately).
 */
export function tokenLoss(advantage: number, logp: number, oldLogp: number, o: ClipOptions): { loss: number; clipped: boolean } {
  const bound = o.logRatioClamp ?? LOG_RATIO_CLAMP;
  const d = Math.max(-bound, Math.min(bound, logp - oldLogp));
  const rho = Math.exp(d);
  const unclipped = -advantage * rho;
  const clippedRho = Math.min(Math.max(rho, 1 - o.epsLow), 1 + o.epsHigh);
  const clippedLoss = -advantage * clippedRho;
  let loss = Math.max(unclipped, clippedLoss);
  if (o.dualClip !== null && advantage < 0) loss = Math.min(loss, -advantage * o.dualClip);
  return { loss, clipped: clippedLoss > unclipped };
}

export type LossAgg = "token-mean" | "microbatch-token-mean" | "seq-mean-token-mean";

/**
 * Aggregate per-token losses of a step: `losses[s][t]` for sequence s, valid tokens only.
 * `microbatches` lists the sequence indices of each micro-batch (used by `microbatch-token-mean`).
 */
export function aggregateLoss(losses: readonly (readonly number[])[], mode: LossAgg, microbatches?: readonly (readonly number[])[]): number {
  const tokenMean = (seqs: readonly (readonly number[])[]) => {
    const n = seqs.reduce((a, s) => a + s.length, 0);
    return n === 0 ? 0 : seqs.reduce((a, s) => a + s.reduce((x, y) => x + y, 0), 0) / n;
  };
  switch (mode) {
    case "token-mean": return tokenMean(losses);
    case "seq-mean-token-mean": {
      const seqs = losses.filter((s) => s.length > 0);
      return seqs.length === 0 ? 0 : seqs.reduce((a, s) => a + s.reduce((x, y) => x + y, 0) / s.length, 0) / seqs.length;
    }
    case "microbatch-token-mean": {
      if (!microbatches || microbatches.length === 0) throw new Error("microbatch-token-mean needs the micro-batch split");
      return microbatches.reduce((a, mb) => a + tokenMean(mb.map((i) => losses[i])), 0) / microbatches.length;
    }
  }
}

export type KlEstimator = "k1" | "k2" | "k3";

/** Per-token KL(π_θ ‖ π_ref) estimate from log-probs: k1 = Δ, k2 = Δ²/2 (mse), k3 = e^{−Δ} − 1 + Δ (low-var-kl). */
export function klEstimate(logp: number, refLogp: number, kind: KlEstimator): number {
  const delta = logp - refLogp;
  switch (kind) {
    case "k1": return delta;
    case "k2": return 0.5 * delta * delta;
    case "k3": return Math.exp(-delta) - 1 + delta;
  }
}
