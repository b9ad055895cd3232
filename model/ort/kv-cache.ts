/**
 * The KV cache of a decoding batch, kept in JavaScript memory and passed to the decode graph
 * without copying: per layer K [B, Hkv, D, S] and V [B, Hkv, S, D] with S = capacity, plus the
 * key bias [B, S] that masks padding and not-yet-written columns. Each step writes only the new
 * column; `keep` compacts the batch when sequences finish so they stop costing compute, and
 * `admit` adds newly prefilled rows (continuous batching). All rows share one column structure:
 * every row's next token goes to column `length`; a row's earlier columns that it does not use
 * are masked.
 */
import { MASKED } from "../arch/transformer.ts";
import type { ArchConfig } from "../config.ts";

export class KvCache {
  /** Per layer, room for `rowsCap` rows: K [rowsCap, Hkv, D, S], V [rowsCap, Hkv, S, D]; rows ≥ batch are free. */
  private K: Float32Array[];
  private V: Float32Array[];
  private bias: Float32Array; // [rowsCap, S]
  private rowsCap: number;
  /** Columns written so far (the same for every row: prompts are left-padded). */
  length = 0;
  private readonly hkv: number;
  private readonly d: number;

  constructor(private readonly config: ArchConfig, public batch: number, public capacity: number) {
    this.hkv = config.numKvHeads;
    this.d = config.headDim;
    this.rowsCap = batch;
    const n = batch * this.hkv * this.d * capacity;
    this.K = Array.from({ length: config.numLayers }, () => new Float32Array(n));
    this.V = Array.from({ length: config.numLayers }, () => new Float32Array(n));
    this.bias = new Float32Array(batch * capacity).fill(MASKED);
  }

  /** Floats a row takes in one layer's K (or V). */
  private get rowSize(): number {
    return this.hkv * this.d * this.capacity;
  }
  /** The live rows' K per layer, [batch, Hkv, D, capacity]: views, nothing copied. */
  get keys(): Float32Array[] {
    return this.K.map((a) => a.subarray(0, this.batch * this.rowSize));
  }
  /** The live rows' V per layer, [batch, Hkv, capacity, D]: views. */
  get values(): Float32Array[] {
    return this.V.map((a) => a.subarray(0, this.batch * this.rowSize));
  }
  /** The live rows' key bias [batch, capacity]: a view. */
  get keyBias(): Float32Array {
    return this.bias.subarray(0, this.batch * this.capacity);
  }

  /** Copies the prefill's K [B,Hkv,D,T] / V [B,Hkv,T,D] into columns 0..T-1. */
  writePrefill(keys: Float32Array[], values: Float32Array[], T: number, promptBias: Float32Array): void {
    if (T > this.capacity) throw new Error(`prompt of ${T} tokens exceeds the KV cache capacity ${this.capacity}`);
    const S = this.capacity, D = this.d, rows = this.batch * this.hkv;
    for (let l = 0; l < keys.length; l++) {
      const k = keys[l], v = values[l], K = this.K[l], Vc = this.V[l];
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < D; d++) K.set(k.subarray((r * D + d) * T, (r * D + d + 1) * T), (r * D + d) * S);
        Vc.set(v.subarray(r * T * D, (r + 1) * T * D), r * S * D);
      }
    }
    for (let b = 0; b < this.batch; b++) this.bias.set(promptBias.subarray(b * T, (b + 1) * T), b * S);
    this.length = T;
  }

  /** Writes the decode step's new K/V ([B,Hkv,D] each) at column `length`. */
  append(keys: Float32Array[], values: Float32Array[]): void {
    const s = this.length, S = this.capacity, D = this.d, rows = this.batch * this.hkv;
    if (s >= S) throw new Error(`KV cache full (${S} columns)`);
    for (let l = 0; l < keys.length; l++) {
      const k = keys[l], v = values[l], K = this.K[l], Vc = this.V[l];
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < D; d++) K[(r * D + d) * S + s] = k[r * D + d];
        Vc.set(v.subarray(r * D, (r + 1) * D), (r * S + s) * D);
      }
    }
    for (let b = 0; b < this.batch; b++) this.bias[b * S + s] = 0;
    this.length = s + 1;
  }

  /** First column any row uses (columns before it are masked in every row). */
  firstUsedColumn(): number {
    let first = this.length;
    for (let b = 0; b < this.batch; b++)
      for (let col = 0; col < first; col++)
        if (this.bias[b * this.capacity + col] === 0) {
          first = col;
          break;
        }
    return first;
  }

  /**
   * Moves column c to c - shift (a negative shift opens masked columns at the front) into arrays
   * of `capacity` columns and room for `rowsCap` rows. Positions live in the graph inputs, not in
   * columns, so this is free of numerical effect.
   */
  relayout(shift: number, capacity: number, rowsCap = this.rowsCap): void {
    const newLength = this.length - shift;
    if (newLength > capacity) throw new Error(`relayout: ${newLength} columns do not fit in ${capacity}`);
    const S = this.capacity, D = this.d, rows = this.batch * this.hkv;
    const from = Math.max(0, shift), n = this.length - from, to = from - shift;
    const size = rowsCap * this.hkv * D * capacity;
    const K2 = this.K.map(() => new Float32Array(size));
    const V2 = this.V.map(() => new Float32Array(size));
    for (let l = 0; l < this.K.length; l++)
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < D; d++) K2[l].set(this.K[l].subarray((r * D + d) * S + from, (r * D + d) * S + from + n), (r * D + d) * capacity + to);
        V2[l].set(this.V[l].subarray((r * S + from) * D, (r * S + from + n) * D), (r * capacity + to) * D);
      }
    const bias = new Float32Array(rowsCap * capacity).fill(MASKED);
    for (let b = 0; b < this.batch; b++) bias.set(this.bias.subarray(b * S + from, b * S + from + n), b * capacity + to);
    this.K = K2;
    this.V = V2;
    this.bias = bias;
    this.capacity = capacity;
    this.rowsCap = rowsCap;
    this.length = newLength;
  }

  /**
   * Appends rows prefilled elsewhere, each unpadded (`PrefilledRow`), so that every row's last
   * prompt token sits in column length-1 like every other row's latest token; the columns before
   * a shorter prompt stay masked. Makes room first (drops columns no row uses, opens columns at
   * the front, grows; row room doubles as needed) so `extra` more columns fit. A free row may
   * hold a finished sequence's old K/V: every column the new row does not write is masked.
   */
  admit(rows: readonly PrefilledRow[], extra: number): void {
    const T = Math.max(...rows.map((r) => r.T));
    const first = Math.min(this.firstUsedColumn(), this.length - T);
    const newLength = this.length - first;
    const B0 = this.batch, n = rows.length;
    const rowsCap = B0 + n > this.rowsCap ? Math.max(B0 + n, 2 * this.rowsCap) : this.rowsCap;
    if (first !== 0 || newLength + extra > this.capacity || rowsCap !== this.rowsCap)
      this.relayout(first, Math.max(this.capacity, newLength + extra), rowsCap);
    const S = this.capacity, D = this.d, Hkv = this.hkv;
    rows.forEach((row, b) => {
      const Tb = row.T, at = this.length - Tb;
      for (let l = 0; l < this.K.length; l++)
        for (let h = 0; h < Hkv; h++) {
          const R = (B0 + b) * Hkv + h;
          for (let d = 0; d < D; d++) this.K[l].set(row.keys[l].subarray((h * D + d) * Tb, (h * D + d + 1) * Tb), (R * D + d) * S + at);
          this.V[l].set(row.values[l].subarray(h * Tb * D, (h + 1) * Tb * D), (R * S + at) * D);
        }
      const rowBias = this.bias.subarray((B0 + b) * S, (B0 + b + 1) * S);
      rowBias.fill(MASKED);
      rowBias.fill(0, at, this.length);
    });
    this.batch = B0 + n;
  }

  /** Keeps only `rows` (in that order): in place when they are ascending (the loop's case), else through a copy. */
  keep(rows: number[]): void {
    const per = this.rowSize, S = this.capacity;
    const ascending = rows.every((r, i) => (i === 0 ? r >= 0 : r > rows[i - 1])); // then row r moves to i ≤ r
    const move = (a: Float32Array, stride: number) => {
      if (ascending) {
        rows.forEach((r, i) => r !== i && a.copyWithin(i * stride, r * stride, (r + 1) * stride));
        return a;
      }
      const out = new Float32Array(a.length);
      rows.forEach((r, i) => out.set(a.subarray(r * stride, (r + 1) * stride), i * stride));
      return out;
    };
    this.K = this.K.map((a) => move(a, per));
    this.V = this.V.map((a) => move(a, per));
    this.bias = move(this.bias, S);
    this.batch = rows.length;
  }
}

/** One prompt's prefill, without padding: per layer K [Hkv, D, T] and V [Hkv, T, D], and the log-probs of its next token. */
export interface PrefilledRow {
  T: number;
  keys: Float32Array[];
  values: Float32Array[];
  logprobs: Float32Array;
}

/**
 * Row b of a left-padded prefill (K [B,Hkv,D,Tp], V [B,Hkv,Tp,D], log-probs [B,V]) as a
 * PrefilledRow of its own T tokens (the last T columns): a copy, so it outlives the batch.
 */
export function prefilledRow(config: ArchConfig, out: { keys: Float32Array[]; values: Float32Array[]; logprobs: Float32Array }, b: number, Tp: number, T: number): PrefilledRow {
  const Hkv = config.numKvHeads, D = config.headDim, V = config.vocabSize;
  const keys = out.keys.map((k) => {
    const row = new Float32Array(Hkv * D * T);
    for (let hd = 0; hd < Hkv * D; hd++) row.set(k.subarray((b * Hkv * D + hd) * Tp + Tp - T, (b * Hkv * D + hd + 1) * Tp), hd * T);
    return row;
  });
  const values = out.values.map((v) => {
    const row = new Float32Array(Hkv * T * D);
    for (let h = 0; h < Hkv; h++) row.set(v.subarray(((b * Hkv + h) * Tp + Tp - T) * D, ((b * Hkv + h) * Tp + Tp) * D), h * T * D);
    return row;
  });
  return { T, keys, values, logprobs: out.logprobs.slice(b * V, (b + 1) * V) };
}
