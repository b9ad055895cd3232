/**
 * Per-token loss weights w_t that realise each aggregation of azr-spec §7.2 as Σ w_t ℓ_t, so a
 * step's gradient is the plain sum of its micro-batches' gradients:
 *   token-mean            w = 1 / (valid tokens in the step)
 *   microbatch-token-mean w = 1 / (tokens in the micro-batch · number of micro-batches)
 *   seq-mean-token-mean   w = 1 / (tokens in the sequence · sequences with tokens)
 *   cross-entropy         w = lossWeight_t / Σ_step lossWeight (token mean, optionally weighted)
 */
import type { LossSettings } from "./losses.ts";
import type { PackableSequence } from "./pack.ts";

export interface WeightedSequence extends PackableSequence {
  /** Cross-entropy only: relative weight of each response token (default 1). */
  lossWeights?: ArrayLike<number>;
}

/** One Float32Array of weights per micro-batch, tokens in packing order. */
export function tokenWeights(micro: readonly (readonly WeightedSequence[])[], loss: LossSettings): Float32Array[] {
  const all = micro.flat();
  const nTokens = all.reduce((a, s) => a + s.response.length, 0);
  if (nTokens === 0) throw new Error("trainStep batch has no response tokens");
  const lw = (s: WeightedSequence, j: number) => (s.lossWeights ? s.lossWeights[j] : 1);
  const ceTotal = loss.kind === "cross-entropy" ? all.reduce((a, s) => a + s.response.reduce((b, _, j) => b + lw(s, j), 0), 0) : 0;
  if (loss.kind === "cross-entropy" && !(ceTotal > 0)) throw new Error(`cross-entropy loss weights sum to ${ceTotal}; at least one token must have weight > 0`);
  const nSeqs = all.filter((s) => s.response.length > 0).length;
  return micro.map((mb) => {
    const mbTokens = mb.reduce((a, s) => a + s.response.length, 0);
    const out = new Float32Array(mbTokens);
    let m = 0;
    for (const s of mb)
      for (let j = 0; j < s.response.length; j++) {
        if (loss.kind === "cross-entropy") out[m++] = lw(s, j) / ceTotal;
        else if (loss.lossAgg === "token-mean") out[m++] = 1 / nTokens;
        else if (loss.lossAgg === "microbatch-token-mean") out[m++] = 1 / (mbTokens * micro.length);
        else out[m++] = 1 / (s.response.length * nSeqs);
      }
    return out;
  });
}
