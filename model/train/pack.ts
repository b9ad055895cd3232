/**
 * Sequences → the feeds of one training micro-batch. Each sequence is prompt + response, right-
 * padded to the longest (pads masked by key_bias, so they are never attended to and carry no
 * loss); the loss tokens are the response tokens, predicted from the position before each.
 * Per-token arrays (advantages, old/ref log-probs, loss weights) are concatenated in the same
 * order as `rows`. Covers packing only; the aggregation weights come from ./aggregate.ts.
 */
import { MASKED } from "../arch/transformer.ts";

export interface PackedBatch {
  B: number;
  T: number;
  M: number;
  ids: BigInt64Array; // [B,T]
  positions: BigInt64Array; // [B,T]
  keyBias: Float32Array; // [B,T]
  causal: Float32Array; // [T,T]
  rows: BigInt64Array; // [M]
  targets: BigInt64Array; // [M]
}

export interface PackableSequence {
  prompt: readonly number[];
  response: readonly number[];
}

export function packSequences(seqs: readonly PackableSequence[]): PackedBatch {
  if (seqs.length === 0) throw new Error("packSequences: empty micro-batch");
  seqs.forEach((s, i) => {
    if (s.prompt.length === 0) throw new Error(`sequence ${i}: empty prompt (the first response token needs a context)`);
  });
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.prompt.length + s.response.length));
  const M = seqs.reduce((a, s) => a + s.response.length, 0);
  const ids = new BigInt64Array(B * T), positions = new BigInt64Array(B * T), keyBias = new Float32Array(B * T).fill(MASKED);
  const rows = new BigInt64Array(M), targets = new BigInt64Array(M);
  let m = 0;
  seqs.forEach((s, b) => {
    const toks = [...s.prompt, ...s.response];
    for (let t = 0; t < toks.length; t++) {
      ids[b * T + t] = BigInt(toks[t]);
      positions[b * T + t] = BigInt(t);
      keyBias[b * T + t] = 0;
    }
    for (let j = 0; j < s.response.length; j++) {
      rows[m] = BigInt(b * T + s.prompt.length - 1 + j);
      targets[m++] = BigInt(s.response[j]);
    }
  });
  const causal = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = MASKED;
  return { B, T, M, ids, positions, keyBias, causal, rows, targets };
}

/** Concatenates one per-token array per sequence (length checked against the response). */
export function concatTokens(seqs: readonly PackableSequence[], get: (i: number) => ArrayLike<number> | undefined, what: string): Float32Array {
  const M = seqs.reduce((a, s) => a + s.response.length, 0);
  const out = new Float32Array(M);
  let m = 0;
  seqs.forEach((s, i) => {
    const a = get(i);
    if (!a) throw new Error(`sequence ${i}: ${what} is missing`);
    if (a.length !== s.response.length) throw new Error(`sequence ${i}: ${a.length} ${what} for ${s.response.length} response tokens`);
    out.set(a, m);
    m += a.length;
  });
  return out;
}
