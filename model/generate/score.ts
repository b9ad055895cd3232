/**
 * Per-token log-probs of responses given prompts, in padded batches: sequences are sorted by
 * length (less padding), packed into runs whose [B, T, V] logits stay under a memory budget, and
 * only the response positions are returned. Covers: the score graph's batching. Not: gradients.
 */
import type { ModelSessions } from "../ort/session.ts";
import { checkTokenIds, leftPad } from "../ort/batch.ts";

/** Upper bound on the logits one run materialises (B·T·V floats). */
const DEFAULT_LOGIT_BUDGET = 64 * 1024 * 1024;

/** Refuses a malformed score request (the engine checks before splitting it over lanes, so indices are the caller's). */
export function checkScoreRequest(prompts: number[][], responses: number[][], vocabSize: number): void {
  if (prompts.length !== responses.length) throw new Error(`score: ${prompts.length} prompts but ${responses.length} responses`);
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error(`score: prompt ${i} is empty (the first response token needs a prefix to be predicted from)`);
  });
  checkTokenIds("score", prompts, vocabSize);
  checkTokenIds("score", responses, vocabSize, "response");
}

export async function scoreResponses(s: ModelSessions, prompts: number[][], responses: number[][], logitBudget = DEFAULT_LOGIT_BUDGET): Promise<Float32Array[]> {
  checkScoreRequest(prompts, responses, s.config.vocabSize);
  const seqs = prompts.map((p, i) => [...p, ...responses[i]]);
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].length - seqs[b].length);
  const out: Float32Array[] = new Array(seqs.length);
  const V = s.config.vocabSize;
  for (let start = 0; start < order.length; ) {
    // Grow the run while B·T·V fits (T is the longest, i.e. the last, in sorted order).
    let end = start + 1;
    while (end < order.length && (end + 1 - start) * seqs[order[end]].length * V <= logitBudget) end++;
    const idx = order.slice(start, end);
    const b = leftPad(idx.map((i) => seqs[i]));
    const targets = new Int32Array(b.B * b.T);
    for (let r = 0; r < b.B; r++) for (let t = 0; t + 1 < b.T; t++) targets[r * b.T + t] = b.ids[r * b.T + t + 1];
    const lp = await s.score(b.ids, b.positions, b.keyBias, targets, b.B, b.T);
    idx.forEach((i, r) => {
      const P = prompts[i].length, R = responses[i].length;
      const from = r * b.T + b.pads[r] + P - 1; // column predicting the first response token
      out[i] = lp.slice(from, from + R);
    });
    start = end;
  }
  return out;
}
