/**
 * Sequences → the feeds of one training micro-batch. Sequences with the same prompt share one
 * row: the prompt once, then each response as its own branch, which sees the prompt and itself
 * but not the other branches (the attention bias [B,T,T] says who sees whom; positions restart
 * at each branch, so every token has exactly the context and position it has alone). Self-play
 * trains several responses to each task (the learnability samples), so this computes a prompt
 * once where it was computed once per response. A sequence alone is a row of one branch.
 *
 * A response of R tokens needs R predicting positions: the prompt's last token, then the
 * response's first R − 1 (its last token predicts nothing). So each branch starts with its own
 * copy of the prompt's last token, and the shared trunk is the rest of the prompt: every loss
 * row reads a position of its own, and no two rows' gradients meet in the gather of the loss
 * positions (onnxruntime's multi-threaded scatter-add loses updates to repeated indices; see
 * ./graph.ts). Rows are right-padded to the longest; pads are never attended to.
 *
 * Loss tokens (`rows`, `targets`) and every per-token array (advantages, old/ref log-probs, loss
 * weights) are in sequence order, whatever the layout. Covers packing only; the aggregation
 * weights come from ./aggregate.ts.
 */
import { MASKED } from "../arch/transformer.ts";

export interface PackedBatch {
  B: number;
  T: number;
  M: number;
  ids: BigInt64Array; // [B,T]
  positions: BigInt64Array; // [B,T]
  attnBias: Float32Array; // [B,T,T]: 0 where query t may attend to key s, else MASKED
  rows: BigInt64Array; // [M]: flat b·T+t of the position predicting each loss token
  targets: BigInt64Array; // [M]
}

export interface PackableSequence {
  prompt: readonly number[];
  response: readonly number[];
}

/** One row: a prompt's trunk (all but its last token) and the sequences branching from it. */
interface Row {
  prompt: readonly number[];
  members: number[]; // indices into the micro-batch, in order
}

function rowsOf(seqs: readonly PackableSequence[]): Row[] {
  const byPrompt = new Map<string, Row>();
  const rows: Row[] = [];
  seqs.forEach((s, i) => {
    if (s.response.length === 0) return; // nothing to predict, nothing to compute
    const key = s.prompt.join(",");
    let row = byPrompt.get(key);
    if (!row) {
      row = { prompt: s.prompt, members: [] };
      byPrompt.set(key, row);
      rows.push(row);
    }
    row.members.push(i);
  });
  return rows;
}

const rowLength = (r: Row, seqs: readonly PackableSequence[]) => r.prompt.length - 1 + r.members.reduce((a, i) => a + seqs[i].response.length, 0);

export function packSequences(seqs: readonly PackableSequence[]): PackedBatch {
  if (seqs.length === 0) throw new Error("packSequences: empty micro-batch");
  seqs.forEach((s, i) => {
    if (s.prompt.length === 0) throw new Error(`sequence ${i}: empty prompt (the first response token needs a context)`);
  });
  const layout = rowsOf(seqs);
  if (layout.length === 0) throw new Error("packSequences: no sequence in the micro-batch has a response token");
  const B = layout.length;
  const T = Math.max(...layout.map((r) => rowLength(r, seqs)));
  const M = seqs.reduce((a, s) => a + s.response.length, 0);
  const ids = new BigInt64Array(B * T), positions = new BigInt64Array(B * T);
  const attnBias = new Float32Array(B * T * T).fill(MASKED);
  const rows = new BigInt64Array(M), targets = new BigInt64Array(M); // loss tokens in sequence order
  const firstToken = new Int32Array(seqs.length); // sequence → its first loss token
  for (let i = 0, m = 0; i < seqs.length; m += seqs[i].response.length, i++) firstToken[i] = m;

  layout.forEach((row, b) => {
    const at = b * T, L = row.prompt.length;
    const see = (q: number, from: number, to: number) => attnBias.fill(0, (at + q) * T + from, (at + q) * T + to); // q sees keys [from, to)
    for (let t = 0; t < L - 1; t++) {
      ids[at + t] = BigInt(row.prompt[t]);
      positions[at + t] = BigInt(t);
      see(t, 0, t + 1);
    }
    let start = L - 1; // where the next branch begins
    for (const i of row.members) {
      const r = seqs[i].response;
      for (let j = 0; j < r.length; j++) {
        const t = start + j;
        ids[at + t] = BigInt(j === 0 ? row.prompt[L - 1] : r[j - 1]);
        positions[at + t] = BigInt(L - 1 + j);
        see(t, 0, L - 1); // the trunk
        see(t, start, t + 1); // its own branch so far
        rows[firstToken[i] + j] = BigInt(at + t);
        targets[firstToken[i] + j] = BigInt(r[j]);
      }
      start += r.length;
    }
    // Pads (queries) see the row's first token: their outputs reach no loss, and a query that
    // sees nothing would average every key alike.
    for (let t = start; t < T; t++) see(t, 0, 1);
  });
  return { B, T, M, ids, positions, attnBias, rows, targets };
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
