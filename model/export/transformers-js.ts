/**
 * Export to the layout transformers.js (and onnxruntime-genai-style tools) load: `onnx/model.onnx`
 * with weights in `onnx/model.onnx_data`, one graph taking `past_key_values.{i}.key/value`
 * [B, Hkv, P, D] and returning `logits` [B, T, V] plus the full `present.{i}.key/value`
 * [B, Hkv, P+T, D], with `attention_mask` [B, P+T] and `position_ids` [B, T]. Built from the same
 * architecture helpers as azr's own graphs. Covers: fp32, the decoder family of ../config.ts.
 * Not: quantised variants, merged/with-past-only splits.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Graph, type Value } from "../graph/builder.ts";
import { serializeGraph } from "../graph/serialize.ts";
import { toHfConfig, weightShapes, type ArchConfig } from "../config.ts";
import { declareWeights, lmHead, mlp, MASKED, qkv, rmsNorm, rope, type Ctx } from "../arch/transformer.ts";
import { ropeTables } from "../rope.ts";
import { writeNewFolder, type Weights } from "../checkpoint.ts";
import { writeFully } from "../safetensors.ts";

/** The graph; RoPE tables are constants (inputs named rope.cos / rope.sin, exported as initializers). */
export function buildCachedDecoderGraph(c: ArchConfig): Graph {
  const g = new Graph(`${c.family}-transformers-js`);
  const w = declareWeights(g, c);
  const Hkv = c.numKvHeads, rep = c.numHeads / c.numKvHeads, D = c.headDim;
  const cosTable = g.input("rope.cos", "float32", [c.maxPositionEmbeddings, D / 2]);
  const sinTable = g.input("rope.sin", "float32", [c.maxPositionEmbeddings, D / 2]);
  const ids = g.input("input_ids", "int64", ["batch_size", "sequence_length"]);
  const mask = g.input("attention_mask", "int64", ["batch_size", "total_sequence_length"]);
  const pos = g.input("position_ids", "int64", ["batch_size", "sequence_length"]);
  const past: { k: Value; v: Value }[] = [];
  for (let i = 0; i < c.numLayers; i++)
    past.push({
      k: g.input(`past_key_values.${i}.key`, "float32", ["batch_size", Hkv, "past_sequence_length", D]),
      v: g.input(`past_key_values.${i}.value`, "float32", ["batch_size", Hkv, "past_sequence_length", D]),
    });
  const bt = g.shapeOf(ids);
  const zero = g.constInt64([0], []), one = g.constInt64([1], []);
  const T = g.gather(bt, one); // scalar
  const P = g.gather(g.shapeOf(past[0].k), g.constInt64([2], [])); // scalar
  const S = g.add(P, T);
  // Causal mask over absolute columns: query i sits at column P+i and sees keys at columns ≤ P+i.
  const qCols = g.unsqueeze(g.range(P, S, one, "sequence_length"), [1]); // (T,1)
  const kCols = g.unsqueeze(g.range(zero, S, one, "total_sequence_length"), [0]); // (1,S)
  const future = g.less(qCols, kCols); // (T,S)
  const causal = g.where(future, g.scalar(MASKED), g.scalar(0)); // (T,S)
  const padBias = g.mul(g.sub(g.scalar(1), g.cast(mask, "float32")), g.scalar(MASKED)); // (B,S)
  const bias = g.add(g.unsqueeze(padBias, [1, 2, 3]), causal); // (B,1,1,T,S)
  const ctx: Ctx = { g, c, w, cos: g.gather(cosTable, pos), sin: g.gather(sinTable, pos) }; // (B,T,D/2)
  const shape = (dims: number[]) => g.concat([bt, g.constInt64(dims)], 0);
  let x = g.reshape(g.gather(w("model.embed_tokens.weight"), ids), [-1, c.hiddenSize]); // (N,h)
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const h = rmsNorm(ctx, x, w(p + "input_layernorm.weight"));
    let { q, k, v } = qkv(ctx, h, p);
    let q5 = g.reshapeTo(q, shape([Hkv, rep, D]), ["B", "T", Hkv, rep, D]);
    let k4 = g.reshapeTo(k, shape([Hkv, D]), ["B", "T", Hkv, D]);
    const v4 = g.reshapeTo(v, shape([Hkv, D]), ["B", "T", Hkv, D]);
    if (c.qkNorm) {
      q5 = rmsNorm(ctx, q5, w(p + "self_attn.q_norm.weight"));
      k4 = rmsNorm(ctx, k4, w(p + "self_attn.k_norm.weight"));
    }
    const cos4 = g.unsqueeze(ctx.cos, [2]), sin4 = g.unsqueeze(ctx.sin, [2]);
    q5 = rope(g, q5, g.unsqueeze(cos4, [3]), g.unsqueeze(sin4, [3]));
    k4 = rope(g, k4, cos4, sin4);
    const kAll = g.concat([past[i].k, g.transpose(k4, [0, 2, 1, 3])], 2); // (B,Hkv,S,D)
    const vAll = g.concat([past[i].v, g.transpose(v4, [0, 2, 1, 3])], 2); // (B,Hkv,S,D)
    g.output(kAll, `present.${i}.key`);
    g.output(vAll, `present.${i}.value`);
    const qT = g.mul(g.transpose(q5, [0, 2, 3, 1, 4]), g.scalar(1 / Math.sqrt(D))); // (B,Hkv,rep,T,D)
    const scores = g.add(g.matmul(qT, g.unsqueeze(g.transpose(kAll, [0, 1, 3, 2]), [2])), bias); // (B,Hkv,rep,T,S)
    const o = g.matmul(g.softmax(scores, -1), g.unsqueeze(vAll, [2])); // (B,Hkv,rep,T,D)
    const o2 = g.reshape(g.transpose(o, [0, 3, 1, 2, 4]), [-1, c.numHeads * D]); // (N,H·D)
    x = g.add(x, g.linear(o2, w(p + "self_attn.o_proj.weight")));
    x = g.add(x, mlp(ctx, rmsNorm(ctx, x, w(p + "post_attention_layernorm.weight")), p));
  }
  g.output(g.reshapeTo(lmHead(ctx, x), g.concat([bt, g.constInt64([c.vocabSize])], 0), ["batch_size", "sequence_length", c.vocabSize]), "logits");
  return g;
}

/**
 * Writes `dir` as a transformers.js model: config.json, generation_config.json, onnx/model.onnx
 * (+ model.onnx_data), and the tokenizer files (and generation_config.json) from `tokenizerDir` when given.
 * `alive`: whether a pid runs, for partial folders of earlier exports (see writeNewFolder).
 */
export function exportTransformersJs(dir: string, c: ArchConfig, weights: Weights, alive: (pid: number) => boolean, tokenizerDir?: string): void {
  // Written into a temp folder and renamed: a failure leaves no half-written `dir`, a non-empty one is refused.
  writeNewFolder(dir, (tmp) => writeTransformersJs(tmp, c, weights, tokenizerDir), alive);
}

function writeTransformersJs(dir: string, c: ArchConfig, weights: Weights, tokenizerDir?: string): void {
  mkdirSync(join(dir, "onnx"), { recursive: true });
  const { cos, sin } = ropeTables(c, c.maxPositionEmbeddings);
  const tensors = new Map<string, Float32Array>([...[...weightShapes(c).keys()].map((n) => [n, weights.get(n)!] as const), ["rope.cos", cos], ["rope.sin", sin]]);
  const layout = new Map<string, { location: string; offset: number }>();
  const fd = openSync(join(dir, "onnx", "model.onnx_data"), "w");
  try {
    let offset = 0;
    for (const [name, data] of tensors) {
      if (!data) throw new Error(`export: weight ${name} is missing`);
      writeFully(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      layout.set(name, { location: "model.onnx_data", offset });
      offset += data.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  const graph = buildCachedDecoderGraph(c);
  writeFileSync(join(dir, "onnx", "model.onnx"), serializeGraph(graph, { externalInputs: new Set(tensors.keys()), externalLayout: layout }));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...toHfConfig(c), "transformers.js_config": { use_external_data_format: true } }, null, 2) + "\n");
  // The model's own generation_config.json when it has one: it often stops at more eos ids than
  // config.json names (Qwen2.5/Qwen3 instruct add <|endoftext|>) and carries the sampling defaults.
  if (tokenizerDir && existsSync(join(tokenizerDir, "generation_config.json"))) copyFileSync(join(tokenizerDir, "generation_config.json"), join(dir, "generation_config.json"));
  else {
    const eos = c.eosTokenIds.length === 0 ? null : c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: c.bosTokenId ?? null, eos_token_id: eos }, null, 2) + "\n");
  }
  if (tokenizerDir)
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) if (existsSync(join(tokenizerDir, f))) copyFileSync(join(tokenizerDir, f), join(dir, f));
}
