/**
 * The embedding lookup of the training graph and its gradient, done by the trainer (why: see
 * ./graph.ts): the rows of the table for a micro-batch's token ids go in as `input_embeds`, and
 * d loss / d input_embeds comes back to be added into the table's gradient row by row.
 * Both passes run over the tokens in order, so the sums are the same on every run and equal,
 * bit for bit, to what onnxruntime's single-threaded Gather / ScatterND computed in the graph.
 */

/** The table's rows for `ids` (any shape, flattened): a fresh [ids.length, h] array. */
export function gatherRows(table: Float32Array, hidden: number, ids: BigInt64Array): Float32Array {
  const vocab = table.length / hidden;
  const out = new Float32Array(ids.length * hidden);
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${ids[i]} (position ${i} of the batch) is outside the model's vocabulary of ${vocab}; check the tokenizer matches the model`);
    out.set(table.subarray(id * hidden, (id + 1) * hidden), i * hidden);
  }
  return out;
}

/**
 * The table's gradient: each token's row of `rowsGrad` [ids.length, h] added into the row of its
 * id, the rows summed first (from zero, in token order) and then added to `base` (the tied LM
 * head's part, updated in place) or written into a zero table. Memory: one row per distinct id.
 */
export function scatterAddRows(rowsGrad: Float32Array, ids: BigInt64Array, hidden: number, vocab: number, base?: Float32Array): Float32Array {
  if (rowsGrad.length !== ids.length * hidden) throw new Error(`embedding gradient: ${rowsGrad.length} values for ${ids.length} tokens × ${hidden}`);
  const slot = new Int32Array(vocab).fill(-1); // id → its row in `sums`
  const order: number[] = []; // ids in first-seen order
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    if (slot[id] < 0) slot[id] = order.push(id) - 1;
  }
  const sums = new Float32Array(order.length * hidden);
  for (let i = 0; i < ids.length; i++) {
    const at = slot[Number(ids[i])] * hidden, from = i * hidden;
    for (let j = 0; j < hidden; j++) sums[at + j] += rowsGrad[from + j];
  }
  const out = base ?? new Float32Array(vocab * hidden);
  if (out.length !== vocab * hidden) throw new Error(`embedding gradient: table part of ${out.length} values, ${vocab} × ${hidden} expected`);
  for (let k = 0; k < order.length; k++) {
    const at = order[k] * hidden;
    for (let j = 0; j < hidden; j++) out[at + j] += sums[k * hidden + j];
  }
  return out;
}
