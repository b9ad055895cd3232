/**
 * The KV cache of a decoding batch, kept in JavaScript memory and passed to the decode graph
 * without copying: per layer K [B, Hkv, D, S] and V [B, Hkv, S, D] with S = capacity, plus the
 * key bias [B, S] that masks padding and not-yet-written columns. Each step writes only the new
 * column; `keep` compacts the batch when sequences finish so they stop costing compute.
 */
import { MASKED } from "../arch/transformer.ts";
import type { ArchConfig } from "../config.ts";

export class KvCache {
  keys: Float32Array[];
  values: Float32Array[];
  keyBias: Float32Array;
  /** Columns written so far (the same for every row: prompts are left-padded). */
  length = 0;
  private readonly hkv: number;
  private readonly d: number;

  constructor(private readonly config: ArchConfig, public batch: number, readonly capacity: number) {
    this.hkv = config.numKvHeads;
    this.d = config.headDim;
    const n = batch * this.hkv * this.d * capacity;
    this.keys = Array.from({ length: config.numLayers }, () => new Float32Array(n));
    this.values = Array.from({ length: config.numLayers }, () => new Float32Array(n));
    this.keyBias = new Float32Array(batch * capacity).fill(MASKED);
  }

  /** Copies the prefill's K [B,Hkv,D,T] / V [B,Hkv,T,D] into columns 0..T-1. */
  writePrefill(keys: Float32Array[], values: Float32Array[], T: number, promptBias: Float32Array): void {
    if (T > this.capacity) throw new Error(`prompt of ${T} tokens exceeds the KV cache capacity ${this.capacity}`);
    const S = this.capacity, D = this.d, rows = this.batch * this.hkv;
    for (let l = 0; l < keys.length; l++) {
      const k = keys[l], v = values[l], K = this.keys[l], Vc = this.values[l];
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < D; d++) K.set(k.subarray((r * D + d) * T, (r * D + d + 1) * T), (r * D + d) * S);
        Vc.set(v.subarray(r * T * D, (r + 1) * T * D), r * S * D);
      }
    }
    for (let b = 0; b < this.batch; b++) this.keyBias.set(promptBias.subarray(b * T, (b + 1) * T), b * S);
    this.length = T;
  }

  /** Writes the decode step's new K/V ([B,Hkv,D] each) at column `length`. */
  append(keys: Float32Array[], values: Float32Array[]): void {
    const s = this.length, S = this.capacity, D = this.d, rows = this.batch * this.hkv;
    if (s >= S) throw new Error(`KV cache full (${S} columns)`);
    for (let l = 0; l < keys.length; l++) {
      const k = keys[l], v = values[l], K = this.keys[l], Vc = this.values[l];
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < D; d++) K[(r * D + d) * S + s] = k[r * D + d];
        Vc.set(v.subarray(r * D, (r + 1) * D), (r * S + s) * D);
      }
    }
    for (let b = 0; b < this.batch; b++) this.keyBias[b * S + s] = 0;
    this.length = s + 1;
  }

  /** Keeps only `rows` (in that order), reallocating smaller arrays. */
  keep(rows: number[]): void {
    const per = this.hkv * this.d * this.capacity;
    const pick = (a: Float32Array, stride: number) => {
      const out = new Float32Array(rows.length * stride);
      rows.forEach((r, i) => out.set(a.subarray(r * stride, (r + 1) * stride), i * stride));
      return out;
    };
    this.keys = this.keys.map((a) => pick(a, per));
    this.values = this.values.map((a) => pick(a, per));
    this.keyBias = pick(this.keyBias, this.capacity);
    this.batch = rows.length;
  }
}
