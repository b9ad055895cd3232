/**
 * The step graph (prefill and decode, see ./transformer.ts) spelled for inference speed: the same
 * maths as the training spelling, in fewer and larger nodes, because at decode a small model's
 * step is dominated by per-node dispatch and a large one's by its GEMMs.
 *   - RMSNorm, residual add + RMSNorm and RoPE are onnxruntime fused kernels (../graph/fused.ts).
 *   - With constant weights, q/k/v are one GEMM and gate/up another, over weights concatenated
 *     (and the softmax scale folded into q) by onnxruntime's constant folding at session
 *     creation: nothing is copied per run. Weights fed as inputs keep one GEMM per projection,
 *     and so do merged weights above MERGE_MAX_BYTES.
 *   - Attention puts a KV head's `rep` query heads into the GEMM rows: q [B, Hkv, rep·T, D] against
 *     K [B, Hkv, D, S] has equal batch dims, where the [B, Hkv, rep, T, D] × [B, Hkv, 1, D, S]
 *     spelling broadcasts into B·Hkv·rep separate tiny GEMMs.
 *   - The decode graph is the step graph with T = 1 known when it is built: every head-layout
 *     change is then a Reshape (a transpose that moves a size-1 axis moves no data), the new
 *     token needs no mask (it sees itself) and its row is the last: ~20% fewer nodes than the
 *     step graph at T = 1 (6 layers: 229 → 181), which is most of a small model's decode step.
 * Inputs and outputs are those of GRAPH_IO's step graph; the KV cache is read in place.
 */
import type { Graph, Value } from "../graph/builder.ts";
import { addRmsNormFused, rmsNormFused, ropeFused } from "../graph/fused.ts";
import type { ArchConfig } from "../config.ts";

export interface StepGraphInputs {
  w: (name: string) => Value;
  cosTable: Value; // [R, D/2]
  sinTable: Value;
  ids: Value; // int64 [B, T]
  positions: Value; // int64 [B, T]
  /**
   * The step graph's T new tokens a row: their run-time shape (B, T), per-key bias [B, T] and
   * causal bias [T, T]. Absent: the decode graph (T = 1, the new token sees itself).
   */
  multi?: { bt: Value; keyBias: Value; causal: Value };
}

/**
 * Largest merged projection weight. Merging saves a GEMM dispatch, which matters for small
 * matrices; a large merged GEMM ran slower than its parts (batch-16 rows, 2 threads, loaded
 * 2-core machine, min of 8: gate+up at 768→2×2048 3.60 ms merged vs 3.34 ms apart; q/k/v at
 * 768→1024 0.83 vs 0.88 ms; gate+up at 192→2×512 0.25 vs 0.28 ms).
 */
const MERGE_MAX_BYTES = 4 << 20;

export function buildStepGraph(g: Graph, c: ArchConfig, io: StepGraphInputs, constantWeights: boolean): void {
  const { w, multi } = io;
  const H = c.numHeads, Hkv = c.numKvHeads, rep = H / Hkv, D = c.headDim, h = c.hiddenSize, eps = c.rmsNormEps;
  const scale = g.scalar(1 / Math.sqrt(D));
  const decode = !multi;
  const shape = (dims: number[]) => g.concat([multi!.bt, g.constInt64(dims)], 0);
  // Run-time shape vectors (B, T, …), built once on first use: the decode graph needs none.
  const shapes = new Map<string, Value>();
  const btShape = (dims: number[]) => {
    const key = dims.join(",");
    if (!shapes.has(key)) shapes.set(key, shape(dims));
    return shapes.get(key)!;
  };
  /** [N, n] rows → [B, T, n] (RotaryEmbedding's layout); at decode N = B and T = 1. */
  const rows3 = (x: Value, n: number) => (decode ? g.reshape(x, [-1, 1, n]) : g.reshapeTo(x, btShape([n]), ["B", "T", n]));

  const pastBias = g.input("past_bias", "float32", ["B", "S"]);
  const pastK: Value[] = [], pastV: Value[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    pastK.push(g.input(`past.${i}.key`, "float32", ["B", Hkv, D, "S"]));
    pastV.push(g.input(`past.${i}.value`, "float32", ["B", Hkv, "S", D]));
  }
  const S = g.slice(g.shapeOf(pastBias), 0, 1); // int64 [1]
  const pastBias4 = g.unsqueeze(pastBias, [1, 2]); // (B,1,1,S)
  // Query rows are ordered (rep, T): the causal mask repeats once per query head of a KV head.
  const newBias = multi && g.add(g.unsqueeze(multi.keyBias, [1, 2]), g.concat(Array.from({ length: rep }, () => multi.causal), 0)); // (B,1,rep·T,T)

  /** x (N,h) → q (B,Hkv,rep·T,D) scaled and rotated, k (B,Hkv,D,T) rotated, v (B,Hkv,T,D): k and v are step outputs. */
  const projections = (x: Value, p: string, i: number) => {
    const qW = w(p + "self_attn.q_proj.weight"), kW = w(p + "self_attn.k_proj.weight"), vW = w(p + "self_attn.v_proj.weight");
    const bias = (n: string) => (c.qkvBias ? w(p + `self_attn.${n}_proj.bias`) : undefined);
    // The softmax scale goes on q before RoPE (linear), or on q_norm's weight (RMSNorm is scale-free).
    const qScaled = !c.qkNorm;
    let q: Value, k: Value, v: Value;
    if (constantWeights && (H + 2 * Hkv) * D * h * 4 <= MERGE_MAX_BYTES) {
      const sq = (t: Value) => (qScaled ? g.mul(t, scale) : t);
      const W = g.concat([sq(qW), kW, vW], 0);
      const bq = bias("q");
      const b = bq ? g.concat([sq(bq), bias("k")!, bias("v")!], 0) : undefined;
      [q, k, v] = g.split(g.linear(x, W, b), -1, [H * D, Hkv * D, Hkv * D]);
    } else {
      q = g.linear(x, qW, bias("q"));
      if (qScaled) q = g.mul(q, scale);
      k = g.linear(x, kW, bias("k"));
      v = g.linear(x, vW, bias("v"));
    }
    let q3 = rows3(q, H * D);
    let k3 = rows3(k, Hkv * D);
    if (c.qkNorm) {
      const norm = (t: Value, heads: number, wn: Value, s?: Value) =>
        g.reshape(rmsNormFused(g, g.reshape(t, [0, 0, heads, D]), s ? g.mul(wn, s) : wn, eps), [0, 0, heads * D]);
      q3 = norm(q3, H, w(p + "self_attn.q_norm.weight"), scale);
      k3 = norm(k3, Hkv, w(p + "self_attn.k_norm.weight"));
    }
    q3 = ropeFused(g, q3, io.positions, io.cosTable, io.sinTable);
    k3 = ropeFused(g, k3, io.positions, io.cosTable, io.sinTable);
    if (decode)
      return {
        q4: g.reshape(q3, [-1, Hkv, rep, D]), // (B,Hkv,rep,D)
        kT: g.reshape(k3, [-1, Hkv, D, 1], `new.${i}.key`), // (B,Hkv,D,1): an output
        vT: g.reshape(v, [-1, Hkv, 1, D], `new.${i}.value`), // (B,Hkv,1,D): an output
      };
    const q4 = g.reshape(g.transpose(g.reshapeTo(q3, btShape([Hkv, rep, D]), ["B", "T", Hkv, rep, D]), [0, 2, 3, 1, 4]), [0, 0, -1, D]); // (B,Hkv,rep·T,D)
    const kT = g.transpose(g.reshapeTo(k3, btShape([Hkv, D]), ["B", "T", Hkv, D]), [0, 2, 3, 1], `new.${i}.key`); // (B,Hkv,D,T): an output
    const vT = g.transpose(g.reshapeTo(v, btShape([Hkv, D]), ["B", "T", Hkv, D]), [0, 2, 1, 3], `new.${i}.value`); // (B,Hkv,T,D): an output
    return { q4, kT, vT };
  };

  /** Scores against the cache and the new keys are joined only for the softmax: the cache is read, never copied. */
  const attention = (x: Value, p: string, i: number) => {
    const { q4, kT, vT } = projections(x, p, i);
    const sPast = g.add(g.matmul(q4, pastK[i]), pastBias4); // (B,Hkv,rep·T,S)
    const sNew = newBias ? g.add(g.matmul(q4, kT), newBias) : g.matmul(q4, kT); // (B,Hkv,rep·T,T)
    const probs = g.softmax(g.concat([sPast, sNew], -1), -1);
    const pPast = g.sliceDynamic(probs, -1, g.constInt64([0]), S, "S");
    const pNew = g.sliceDynamic(probs, -1, S, g.constInt64([2 ** 62]), "T");
    const o = g.add(g.matmul(pPast, pastV[i]), g.matmul(pNew, vT)); // (B,Hkv,rep·T,D)
    const o2 = decode ? g.reshape(o, [-1, H * D]) : g.reshape(g.transpose(g.reshape(o, [0, 0, rep, -1, D]), [0, 3, 1, 2, 4]), [-1, H * D]); // (N,H·D)
    g.output(kT);
    g.output(vT);
    return g.linear(o2, w(p + "self_attn.o_proj.weight"));
  };

  const mlp = (x: Value, p: string) => {
    const gW = w(p + "mlp.gate_proj.weight"), uW = w(p + "mlp.up_proj.weight");
    const I = c.intermediateSize;
    const merge = constantWeights && 2 * I * h * 4 <= MERGE_MAX_BYTES;
    const [gate, up] = merge ? g.split(g.linear(x, g.concat([gW, uW], 0)), -1, [I, I]) : [g.linear(x, gW), g.linear(x, uW)];
    return g.linear(g.mul(g.mul(gate, g.sigmoid(gate)), up), w(p + "mlp.down_proj.weight")); // SiLU(gate)·up
  };

  let x = g.reshape(g.gather(w("model.embed_tokens.weight"), io.ids), [-1, h]); // (N,h)
  let normed = rmsNormFused(g, x, w("model.layers.0.input_layernorm.weight"), eps);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const post = addRmsNormFused(g, x, attention(normed, p, i), w(p + "post_attention_layernorm.weight"), eps);
    const nextNorm = i + 1 < c.numLayers ? `model.layers.${i + 1}.input_layernorm.weight` : "model.norm.weight";
    const next = addRmsNormFused(g, post.sum, mlp(post.normed, p), w(nextNorm), eps);
    x = next.sum;
    normed = next.normed;
  }
  // Rows are left-padded, so every row's last token sits at T-1.
  const last = decode ? normed : g.reshape(g.slice(g.reshapeTo(normed, btShape([h]), ["B", "T", h]), 1, -1), [-1, h]); // (B,h)
  const head = w(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  g.output(g.logSoftmax(g.linear(last, head), -1), "logprobs"); // (B,V)
}
