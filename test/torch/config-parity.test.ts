/**
 * One config.json, one model: the ORT engine's parseConfig (model/config.ts) and the torch engine's
 * ModelConfig.from_hf (azr_torch/modeling.py) read every key — given or left out — as transformers'
 * Qwen2Config / LlamaConfig / Qwen3Config do, refuse the same things naming them, and build the
 * same RoPE tables for every rope scaling they support.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig, readConfig, readGenerationEosIds, toHfConfig, weightShapes, type ArchConfig } from "../../model/config.ts";
import { inverseFrequencies, ropeTables } from "../../model/rope.ts";
import { buildGraph } from "../../model/arch/transformer.ts";
import { findPython } from "../../model/python.ts";

const PY = `
import json, sys, torch
from azr_torch.modeling import ModelConfig, rope_inv_freq, rope_cos_sin
out = []
for raw, positions in json.load(sys.stdin):
    try:
        c = ModelConfig.from_hf(raw)
    except (ValueError, KeyError) as e:
        out.append({"error": str(e)}); continue
    sc = c.rope_scaling
    r = {"numKvHeads": c.num_key_value_heads, "headDim": c.head_dim, "maxPositionEmbeddings": c.max_position_embeddings,
         "tieWordEmbeddings": c.tie_word_embeddings, "ropeTheta": c.rope_theta, "rmsNormEps": c.rms_norm_eps,
         "qkvBias": c.qkv_bias, "oBias": c.o_bias, "qkNorm": c.qk_norm,
         "ropeType": None if sc is None else sc.get("rope_type", sc.get("type"))}
    if positions:
        inv = rope_inv_freq(c)
        cos, sin = rope_cos_sin(inv, torch.arange(positions)[None], torch.float32)
        half = c.head_dim // 2
        r["inv"] = inv.tolist(); r["cos"] = cos[0, 0, :, :half].flatten().tolist(); r["sin"] = sin[0, 0, :, :half].flatten().tolist()
    out.append(r)
print(json.dumps(out))
`;

type PyResult = { error: string } | (Record<string, unknown> & { inv?: number[]; cos?: number[]; sin?: number[] });

/** ModelConfig.from_hf over each config (and its RoPE tables for `positions` > 0), in one Python run. */
function torchSide(cases: [Record<string, unknown>, number][]): PyResult[] {
  return JSON.parse(runPython(PY, JSON.stringify(cases)));
}

function runPython(code: string, input: string): string {
  return execFileSync(findPython().path, ["-c", code], {
    input, encoding: "utf8", maxBuffer: 64 << 20,
    env: { ...process.env, PYTHONPATH: fileURLToPath(new URL("../../model/torch", import.meta.url)) },
  });
}

const ARCH = { qwen2: "Qwen2ForCausalLM", llama: "LlamaForCausalLM", qwen3: "Qwen3ForCausalLM" } as const;
/** Only the keys parseConfig requires: everything else is left to the defaults under test. */
const bare = (family: keyof typeof ARCH, extra: Record<string, unknown> = {}) => ({
  architectures: [ARCH[family]], model_type: family,
  vocab_size: 1000, hidden_size: 2048, intermediate_size: 4096, num_hidden_layers: 2, num_attention_heads: 64, ...extra,
});

type Expect = Pick<ArchConfig, "numKvHeads" | "headDim" | "maxPositionEmbeddings" | "tieWordEmbeddings" | "ropeTheta" | "rmsNormEps" | "qkvBias" | "oBias" | "qkNorm"> & { ropeType: string | null };

// Expected values: transformers' config classes (configuration_qwen2.py, configuration_llama.py,
// configuration_qwen3.py) and their attention modules, read for this table.
const HF = { ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: false, ropeType: null };
const CASES: [string, Record<string, unknown>, Expect][] = [
  ["qwen2, nothing optional given: 32 kv heads (Qwen2Config's default), 32768 positions, untied",
    bare("qwen2"), { ...HF, numKvHeads: 32, headDim: 32, maxPositionEmbeddings: 32768, qkvBias: true, oBias: false, qkNorm: false }],
  ["llama, nothing optional given: kv heads = heads, 2048 positions, untied, no bias",
    bare("llama"), { ...HF, numKvHeads: 64, headDim: 32, maxPositionEmbeddings: 2048, qkvBias: false, oBias: false, qkNorm: false }],
  ["qwen3, nothing optional given: head_dim 128 (Qwen3Config's default, not hidden/heads), 32 kv heads",
    bare("qwen3"), { ...HF, numKvHeads: 32, headDim: 128, maxPositionEmbeddings: 32768, qkvBias: false, oBias: false, qkNorm: true }],
  ["qwen2, num_key_value_heads: null means as many as the heads",
    bare("qwen2", { num_key_value_heads: null }), { ...HF, numKvHeads: 64, headDim: 32, maxPositionEmbeddings: 32768, qkvBias: true, oBias: false, qkNorm: false }],
  ["qwen2, attention_bias is ignored: q/k/v biased, o_proj never",
    bare("qwen2", { attention_bias: true, num_key_value_heads: 8 }), { ...HF, numKvHeads: 8, headDim: 32, maxPositionEmbeddings: 32768, qkvBias: true, oBias: false, qkNorm: false }],
  ["llama, attention_bias: true biases all four projections",
    bare("llama", { attention_bias: true }), { ...HF, numKvHeads: 64, headDim: 32, maxPositionEmbeddings: 2048, qkvBias: true, oBias: true, qkNorm: false }],
  ["qwen3, explicit values win over every default",
    bare("qwen3", { num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 40960, rope_theta: 1e6, rms_norm_eps: 1e-5, tie_word_embeddings: true }),
    { numKvHeads: 8, headDim: 64, maxPositionEmbeddings: 40960, tieWordEmbeddings: true, ropeTheta: 1e6, rmsNormEps: 1e-5, qkvBias: false, oBias: false, qkNorm: true, ropeType: null }],
  ["transformers >= 5 layout: rope_theta inside rope_parameters",
    bare("qwen2", { num_key_value_heads: 8, rope_parameters: { rope_type: "default", rope_theta: 1e6 } }),
    { ...HF, ropeTheta: 1e6, numKvHeads: 8, headDim: 32, maxPositionEmbeddings: 32768, qkvBias: true, oBias: false, qkNorm: false }],
  ["transformers >= 5 layout: llama3 scaling inside rope_parameters",
    bare("llama", { rope_parameters: { rope_type: "llama3", rope_theta: 5e5, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }),
    { ...HF, ropeTheta: 5e5, ropeType: "llama3", numKvHeads: 64, headDim: 32, maxPositionEmbeddings: 2048, qkvBias: false, oBias: false, qkNorm: false }],
];

const pick = (c: ArchConfig): Expect => ({
  numKvHeads: c.numKvHeads, headDim: c.headDim, maxPositionEmbeddings: c.maxPositionEmbeddings, tieWordEmbeddings: c.tieWordEmbeddings,
  ropeTheta: c.ropeTheta, rmsNormEps: c.rmsNormEps, qkvBias: c.qkvBias, oBias: c.oBias, qkNorm: c.qkNorm, ropeType: c.ropeScaling?.type ?? null,
});

test("config defaults: both engines read a config.json as transformers does, key by key", () => {
  const py = torchSide(CASES.map(([, raw]) => [raw, 0]));
  CASES.forEach(([name, raw, want], i) => {
    assert.deepEqual(pick(parseConfig(raw)), want, `ORT engine: ${name}`);
    const { inv, cos, sin, ...got } = py[i] as Record<string, unknown>;
    assert.deepEqual(got, want, `torch engine: ${name}`);
  });
});

// [what, config.json, the error both engines must give (a pattern)]
const REFUSED: [string, Record<string, unknown>, RegExp][] = [
  ["yarn", bare("qwen2", { num_key_value_heads: 8, rope_scaling: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 32768 } }), /rope_type '?"?yarn'?"? is not supported; azr implements 'default', 'linear', 'llama3'/],
  ["dynamic (older 'type' key)", bare("llama", { rope_scaling: { type: "dynamic", factor: 2 } }), /rope_type '?dynamic'? is not supported; azr implements 'default', 'linear', 'llama3'/],
  ["longrope", bare("llama", { rope_scaling: { rope_type: "longrope", short_factor: [1], long_factor: [2] } }), /rope_type '?longrope'? is not supported/],
  ["a rope_scaling without its kind", bare("llama", { rope_scaling: { factor: 2 } }), /rope_scaling has no rope_type \(or type\): name one of 'default', 'linear', 'llama3'/],
  ["llama3 without low_freq_factor", bare("llama", { rope_scaling: { rope_type: "llama3", factor: 8, high_freq_factor: 4, original_max_position_embeddings: 8192 } }), /rope_type '?llama3'? needs '?low_freq_factor'? as a positive number/],
  ["gelu", bare("llama", { hidden_act: "gelu" }), /hidden_act '?gelu'? is not supported \(azr's MLP is SwiGLU with silu\)/],
  ["qwen2's default kv heads (32) against 8 heads", bare("qwen2", { num_attention_heads: 8, hidden_size: 512 }), /num_attention_heads 8 is not a multiple of num_key_value_heads 32 \(transformers' qwen2 default for a missing num_key_value_heads; set it in config.json\)/],
];

test("config refusals: both engines refuse what they would not compute as transformers does, naming it and what is supported", () => {
  const py = torchSide(REFUSED.map(([, raw]) => [raw, 0]));
  REFUSED.forEach(([what, raw, pattern], i) => {
    assert.throws(() => parseConfig(raw), (e: Error) => e instanceof ConfigError && pattern.test(e.message.replaceAll('"', "'")), `ORT engine: ${what}`);
    const r = py[i] as { error?: string };
    assert.ok(r.error !== undefined, `torch engine accepted ${what}`);
    assert.match(r.error.replaceAll('"', "'"), pattern, `torch engine: ${what}`);
  });
});

// Head dim 64 at theta 10000: frequencies span wavelengths 6 to ~54000 positions, so an original
// context of 256 puts the llama3 bands (scaled, blended, kept) all in play.
const ROPE: [string, Record<string, unknown>][] = [
  ["default (null)", { rope_scaling: null }],
  ["'default'", { rope_scaling: { rope_type: "default" } }],
  ["linear", { rope_scaling: { rope_type: "linear", factor: 4 } }],
  ["linear (older 'type' key)", { rope_scaling: { type: "linear", factor: 2.5 } }],
  ["llama3", { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 } }],
  ["llama3 (transformers >= 5 rope_parameters)", { rope_parameters: { rope_type: "llama3", rope_theta: 5e5, factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 512 } }],
];
const POSITIONS = 300;

test("rope tables: model/rope.ts and the torch engine agree for every supported rope scaling", () => {
  const raws = ROPE.map(([, extra]) => bare("llama", { num_attention_heads: 8, hidden_size: 512, ...extra }));
  const py = torchSide(raws.map((raw) => [raw, POSITIONS]));
  raws.forEach((raw, i) => {
    const name = ROPE[i][0];
    const c = parseConfig(raw);
    const r = py[i] as { inv: number[]; cos: number[]; sin: number[]; error?: string };
    assert.equal(r.error, undefined, `torch engine refused ${name}: ${r.error}`);
    const inv = inverseFrequencies(c);
    assert.equal(r.inv.length, inv.length, name);
    // Python rounds its float64 frequencies to fp32 once; so does the comparison
    inv.forEach((f, j) => assert.ok(Math.abs(Math.fround(f) - r.inv[j]) <= 1e-7 * f, `${name}: inv_freq[${j}] ${f} vs ${r.inv[j]}`));
    // cos/sin: torch multiplies position by frequency in fp32 (angle error ~ position · 6e-8), rope.ts in float64
    const { cos, sin } = ropeTables(c, POSITIONS);
    let worst = 0;
    for (let k = 0; k < cos.length; k++) worst = Math.max(worst, Math.abs(cos[k] - r.cos[k]), Math.abs(sin[k] - r.sin[k]));
    assert.ok(worst < 5e-5, `${name}: cos/sin differ by ${worst}`);
  });
  // the variants must actually differ, or the comparison above proves nothing about scaling
  const invs = raws.map((raw) => inverseFrequencies(parseConfig(raw)));
  assert.notDeepEqual(invs[2], invs[0]);
  assert.notDeepEqual(invs[4], invs[0]);
  assert.notDeepEqual(invs[4], invs[2]);
});

test("attention_bias on llama/qwen3: the o_proj bias is a weight the checkpoint must hold, and the ORT engine refuses the model by name", () => {
  const c = parseConfig(bare("llama", { attention_bias: true, num_hidden_layers: 1 }));
  assert.deepEqual(weightShapes(c).get("model.layers.0.self_attn.o_proj.bias"), [2048]);
  assert.throws(() => buildGraph(c, "logits"), /attention_bias=true \(a bias on o_proj\) is not supported by the ORT engine; use backend "torch"/);
  assert.equal(weightShapes(parseConfig(bare("qwen2", { num_key_value_heads: 8, num_hidden_layers: 1 }))).has("model.layers.0.self_attn.o_proj.bias"), false);
});

test("generation_config.json: both engines stop at config.json's eos ids plus its eos_token_id, and refuse a broken file by name", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "azr-gencfg-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "config.json"), JSON.stringify(bare("qwen2", { num_key_value_heads: 8, eos_token_id: 5 })));
  const py = `
import json, sys
from azr_torch.loading import read_config
try:
    print(json.dumps(read_config(sys.stdin.read())[1].eos_token_ids))
except ValueError as e:
    print(json.dumps(str(e)))
`;
  const both = () => {
    let ort: unknown;
    try {
      ort = [...new Set([...readConfig(dir).eosTokenIds, ...readGenerationEosIds(dir)])];
    } catch (e) {
      ort = (e as Error).message;
    }
    return { ort, torch: JSON.parse(runPython(py, dir)) as unknown };
  };
  // temperature/top_p are ignored by both: sampling settings come from the recipe
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [7, 5], temperature: 0.7, top_p: 0.8 }));
  assert.deepEqual(both(), { ort: [5, 7], torch: [5, 7] });
  writeFileSync(join(dir, "generation_config.json"), "{ eos_token_id: 7 ");
  for (const [engine, r] of Object.entries(both())) assert.match(String(r), /generation_config.json is not valid JSON .*: fix or delete it/, engine);
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: ["<|im_end|>"] }));
  for (const [engine, r] of Object.entries(both())) assert.match(String(r), /generation_config.json: eos_token_id \["<\|im_end\|>"\] is not a token id or a list of them/, engine);
});

test("toHfConfig writes back what parseConfig read: linear and llama3 scaling, o_proj bias", () => {
  for (const raw of [
    bare("llama", { attention_bias: true, rope_scaling: { type: "linear", factor: 2 } }),
    bare("llama", { rope_parameters: { rope_type: "llama3", rope_theta: 5e5, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }),
    bare("qwen3"),
  ]) {
    const c = parseConfig(raw);
    assert.deepEqual(parseConfig(toHfConfig(c)), c);
  }
});
