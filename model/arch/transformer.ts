/**
 * The decoder of the Qwen2 / Llama 3 / Qwen3 family as graphs, one definition for three uses:
 *   step   — T new tokens per sequence against a KV cache of S columns: out the new tokens' K/V
 *            and the log-probs of the next token after the last one. Prefill is a step over the
 *            whole prompt with an empty (one masked column) cache; decode is a step with T = 1.
 *            One graph for both means one session, one pre-packed copy of the weights. It is
 *            spelled for inference speed in ./step.ts (fused kernels, no gradient needed).
 *   decode — the step graph built for T = 1 (./step.ts says what that saves): the engine decodes
 *            through it where a step costs per node rather than per FLOP (small models).
 *   score  — log-probs of given target tokens at every position (reference model, learner);
 *   logits — full logits at every position (parity tests, training).
 * Weights are graph inputs under their Hugging Face names, in HF's [out, in] layout (each Linear
 * is one Gemm with transB), so checkpoints need no transposition and tied embeddings no copy.
 *
 * Layouts: hidden states are [N, h] with N = B·T rows. The KV cache is K [B, Hkv, D, S] (already
 * transposed for q·Kᵀ) and V [B, Hkv, S, D]. Attention groups query heads under their KV head
 * ([B, Hkv, rep, T, D]), so GQA never copies K/V. Masks are additive fp32 biases built by the
 * caller: per-key biases [B, S] / [B, T] (0 or MASKED) and `causal` [T, T].
 * Not: sliding windows, MoE, dropout (training issue adds what it needs on the same helpers).
 */
import { Graph, type Value } from "../graph/builder.ts";
import { weightShapes, type ArchConfig } from "../config.ts";
import { buildStepGraph } from "./step.ts";

/** Additive bias for a masked key: large and finite, so a fully masked row stays NaN-free. */
export const MASKED = -1e9;

export type GraphKind = "step" | "decode" | "score" | "logits";

/** A value every layer uses (shape vectors, RoPE broadcasts), built once per graph. */
function shared(ctx: Ctx, key: string, make: () => Value): Value {
  ctx.memo ??= new Map();
  let v = ctx.memo.get(key);
  if (!v) ctx.memo.set(key, (v = make()));
  return v;
}

export interface Ctx {
  g: Graph;
  c: ArchConfig;
  w: (name: string) => Value;
  cos: Value; // [*, D/2] gathered rows for the positions in this run
  sin: Value;
  /** Values shared across layers (see `shared`). */
  memo?: Map<string, Value>;
}

export function declareWeights(g: Graph, c: ArchConfig): (name: string) => Value {
  // every ORT graph starts here; none adds an o_proj bias, so such a model would run without it
  if (c.oBias)
    throw new Error(`${c.family} with attention_bias=true (a bias on o_proj) is not supported by the ORT engine; use backend "torch"`);
  const inputs = new Map<string, Value>();
  for (const [name, shape] of weightShapes(c)) inputs.set(name, g.input(name, "float32", shape));
  return (name) => {
    const v = inputs.get(name);
    if (!v) throw new Error(`weight ${name} is not an input of graph ${g.name}`);
    return v;
  };
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w. */
export function rmsNorm(ctx: Ctx, x: Value, weight: Value): Value {
  const { g } = ctx;
  const ms = g.reduceMean(g.mul(x, x), [-1]); // (...,1)
  const inv = g.reciprocal(g.sqrt(g.add(ms, g.scalar(ctx.c.rmsNormEps))));
  return g.mul(g.mul(x, inv), weight);
}

/** Rotate-half RoPE on the last axis; cos/sin already broadcast against x's leading dims. */
export function rope(g: Graph, x: Value, cos: Value, sin: Value): Value {
  const half = (x.shape[x.shape.length - 1] as number) / 2;
  const [x1, x2] = g.split(x, -1, [half, half]);
  return g.concat([g.sub(g.mul(x1, cos), g.mul(x2, sin)), g.add(g.mul(x2, cos), g.mul(x1, sin))], -1);
}

export function mlp(ctx: Ctx, x: Value, p: string): Value {
  const { g, w } = ctx;
  const gate = g.linear(x, w(p + "mlp.gate_proj.weight")); // (N,I)
  const up = g.linear(x, w(p + "mlp.up_proj.weight")); // (N,I)
  const act = g.mul(g.mul(gate, g.sigmoid(gate)), up); // SiLU(gate)·up
  return g.linear(act, w(p + "mlp.down_proj.weight")); // (N,h)
}

export function qkv(ctx: Ctx, x: Value, p: string) {
  const { g, w, c } = ctx;
  const bias = (n: string) => (c.qkvBias ? w(p + `self_attn.${n}_proj.bias`) : undefined);
  return {
    q: g.linear(x, w(p + "self_attn.q_proj.weight"), bias("q")), // (N,H·D)
    k: g.linear(x, w(p + "self_attn.k_proj.weight"), bias("k")), // (N,Hkv·D)
    v: g.linear(x, w(p + "self_attn.v_proj.weight"), bias("v")), // (N,Hkv·D)
  };
}

interface FullInputs {
  bt: Value; // int64 [2] = (B, T) at run time
  bias: Value; // [B,1,1,T,T]
}

/** q grouped under its KV head and scaled, K and V in cache layout, RoPE and q/k norm applied. */
export function projectHeads(ctx: Ctx, x: Value, p: string, bt: Value) {
  const { g, c, w } = ctx;
  const Hkv = c.numKvHeads, rep = c.numHeads / c.numKvHeads, D = c.headDim;
  // Shape vectors and RoPE broadcasts are the same for every layer: built once per graph.
  const qShape = shared(ctx, "qShape", () => g.concat([bt, g.constInt64([Hkv, rep, D])], 0));
  const kvShape = shared(ctx, "kvShape", () => g.concat([bt, g.constInt64([Hkv, D])], 0));
  let { q, k, v } = qkv(ctx, x, p);
  let q5 = g.reshapeTo(q, qShape, ["B", "T", Hkv, rep, D]); // (B,T,Hkv,rep,D)
  let k4 = g.reshapeTo(k, kvShape, ["B", "T", Hkv, D]); // (B,T,Hkv,D)
  const v4 = g.reshapeTo(v, kvShape, ["B", "T", Hkv, D]); // (B,T,Hkv,D)
  if (c.qkNorm) {
    q5 = rmsNorm(ctx, q5, w(p + "self_attn.q_norm.weight"));
    k4 = rmsNorm(ctx, k4, w(p + "self_attn.k_norm.weight"));
  }
  const cos4 = shared(ctx, "cos4", () => g.unsqueeze(ctx.cos, [2])); // (B,T,1,D/2)
  const sin4 = shared(ctx, "sin4", () => g.unsqueeze(ctx.sin, [2]));
  const cos5 = shared(ctx, "cos5", () => g.unsqueeze(cos4, [3])); // (B,T,1,1,D/2)
  const sin5 = shared(ctx, "sin5", () => g.unsqueeze(sin4, [3]));
  q5 = rope(g, q5, cos5, sin5);
  k4 = rope(g, k4, cos4, sin4);
  const qT = g.mul(g.transpose(q5, [0, 2, 3, 1, 4]), g.scalar(1 / Math.sqrt(D))); // (B,Hkv,rep,T,D)
  const kT = g.transpose(k4, [0, 2, 3, 1]); // (B,Hkv,D,T) — the cache layout
  const vT = g.transpose(v4, [0, 2, 1, 3]); // (B,Hkv,T,D) — the cache layout
  return { q5: qT, kT, vT };
}

/** Attention over T positions of B sequences at once (score, logits). */
function fullAttention(ctx: Ctx, x: Value, p: string, fi: FullInputs) {
  const { g, c, w } = ctx;
  const { q5: qT, kT, vT } = projectHeads(ctx, x, p, fi.bt);
  const scores = g.add(g.matmul(qT, g.unsqueeze(kT, [2])), fi.bias); // (B,Hkv,rep,T,T)
  const probs = g.softmax(scores, -1);
  const o = g.matmul(probs, g.unsqueeze(vT, [2])); // (B,Hkv,rep,T,D)
  const o2 = g.reshape(g.transpose(o, [0, 3, 1, 2, 4]), [-1, c.numHeads * c.headDim]); // (N,H·D)
  return { out: g.linear(o2, w(p + "self_attn.o_proj.weight")) };
}

export function lmHead(ctx: Ctx, h: Value): Value {
  const { g, w, c } = ctx;
  const normed = rmsNorm(ctx, h, w("model.norm.weight"));
  return g.linear(normed, w(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")); // (N,V)
}

export interface BuildOptions {
  /**
   * The weights will be constants of the session (not fed per run): the step graph then merges
   * projections over concatenated weights, which onnxruntime folds once at session creation.
   */
  constantWeights?: boolean;
  /**
   * The token embeddings come in as the input `input_embeds` (B,T,h) instead of being gathered
   * from the table in the graph: the training graph's way of keeping onnxruntime's scatter-add
   * out of the embedding's gradient (see ../train/graph.ts). Logits and score graphs only.
   */
  embedsInput?: boolean;
  /**
   * The attention bias comes in whole as the input `attn_bias` [B,T,T] (0 or MASKED for each query
   * and key) instead of a per-key bias [B,T] and the causal mask [T,T]: the training graph's way of
   * packing several responses to one prompt into one row (../train/pack.ts). Logits and score graphs only.
   */
  attnBiasInput?: boolean;
}

/** Builds one of the graphs; the step graph is spelled for inference in ./step.ts. */
export function buildGraph(c: ArchConfig, kind: GraphKind, opts: BuildOptions = {}): Graph {
  const g = new Graph(`${c.family}-${kind}`);
  const w = declareWeights(g, c);
  const cosTable = g.input("rope.cos", "float32", ["R", c.headDim / 2]);
  const sinTable = g.input("rope.sin", "float32", ["R", c.headDim / 2]);

  const T = kind === "decode" ? 1 : "T";
  const ids = g.input("input_ids", "int64", ["B", T]);
  const pos = g.input("positions", "int64", ["B", T]);
  if (kind === "decode") {
    buildStepGraph(g, c, { w, cosTable, sinTable, ids, positions: pos }, opts.constantWeights ?? false);
    return g;
  }
  const keyAndCausal = () => ({ keyBias: g.input("key_bias", "float32", ["B", "T"]), causal: g.input("causal", "float32", ["T", "T"]) });
  if (kind === "step") {
    const { keyBias, causal } = keyAndCausal();
    buildStepGraph(g, c, { w, cosTable, sinTable, ids, positions: pos, multi: { bt: g.shapeOf(ids, "bt"), keyBias, causal } }, opts.constantWeights ?? false);
    return g;
  }
  const bias = opts.attnBiasInput ? undefined : keyAndCausal();
  const bt = g.shapeOf(ids, "bt"); // (B,T) at run time
  const ctx: Ctx = { g, c, w, cos: g.gather(cosTable, pos), sin: g.gather(sinTable, pos) }; // (B,T,D/2)
  const newBias = bias
    ? g.add(g.unsqueeze(bias.keyBias, [1, 2, 3]), bias.causal) // (B,1,1,T,T)
    : g.unsqueeze(g.input("attn_bias", "float32", ["B", "T", "T"]), [1, 2]); // (B,1,1,T,T)
  const embeds = opts.embedsInput ? g.input("input_embeds", "float32", ["B", "T", c.hiddenSize]) : g.gather(w("model.embed_tokens.weight"), ids); // (B,T,h)
  let x = g.reshape(embeds, [-1, c.hiddenSize]); // (N,h)
  const btV = (extra: number[]) => g.concat([bt, g.constInt64(extra)], 0);

  const targets = kind === "score" ? g.input("targets", "int64", ["B", "T"]) : undefined;
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const att = fullAttention(ctx, rmsNorm(ctx, x, w(p + "input_layernorm.weight")), p, { bt, bias: newBias });
    x = g.add(x, att.out);
    x = g.add(x, mlp(ctx, rmsNorm(ctx, x, w(p + "post_attention_layernorm.weight")), p));
  }
  if (kind === "logits") {
    g.output(g.reshapeTo(lmHead(ctx, x), btV([c.vocabSize]), ["B", "T", c.vocabSize]), "logits"); // (B,T,V)
  } else {
    const logits = lmHead(ctx, x); // (N,V)
    const lse = g.reduceLogSumExp(logits, [-1]); // (N,1)
    const picked = g.gatherElements(logits, g.reshape(targets!, [-1, 1]), 1); // (N,1)
    g.output(g.reshapeTo(g.sub(picked, lse), bt, ["B", "T"]), "token_logprobs"); // (B,T)
  }
  return g;
}
