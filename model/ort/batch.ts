/**
 * Packs token sequences of different lengths into one left-padded batch: pad columns are
 * masked through `keyBias` and positions restart at 0 at each row's first real token, so a
 * padded row computes exactly what it would alone. Left padding puts every row's last token at
 * column T-1 (prefill reads the next-token distribution there; decode appends at column T).
 */
import { MASKED } from "../arch/transformer.ts";

export interface PaddedBatch {
  B: number;
  T: number;
  ids: Int32Array; // [B,T], pad = 0
  positions: Int32Array; // [B,T]
  keyBias: Float32Array; // [B,T]: 0 for tokens, MASKED for padding
  pads: number[]; // pad columns per row
}

export function leftPad(seqs: number[][]): PaddedBatch {
  const B = seqs.length;
  const T = Math.max(1, ...seqs.map((s) => s.length));
  const ids = new Int32Array(B * T), positions = new Int32Array(B * T), keyBias = new Float32Array(B * T);
  const pads: number[] = [];
  seqs.forEach((s, b) => {
    const pad = T - s.length;
    pads.push(pad);
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (t < pad) keyBias[i] = MASKED;
      else {
        ids[i] = s[t - pad];
        positions[i] = t - pad;
      }
    }
  });
  return { B, T, ids, positions, keyBias, pads };
}

/**
 * Refuses token ids outside [0, vocabSize): onnxruntime's Gather reads a negative id from the end
 * of the embedding (a silent wrong answer) and reports a too-large one without saying where.
 */
export function checkTokenIds(what: string, seqs: number[][], vocabSize: number, kind = "prompt"): void {
  seqs.forEach((s, i) => {
    const bad = s.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
    if (bad >= 0) throw new Error(`${what}: ${kind} ${i} has token id ${s[bad]} at position ${bad}, outside the vocabulary [0, ${vocabSize}) (tokenize with this model's tokenizer)`);
  });
}
