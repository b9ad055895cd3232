/**
 * Hugging Face `config.json` → ArchConfig, the one place HF keys are mapped. Covers the decoder
 * family azr runs: Qwen2/Qwen2.5 (q/k/v bias), Llama 3.x (rope_scaling "llama3"), Qwen3 (q/k
 * RMSNorm, explicit head_dim); GQA, RoPE (default, "linear", "llama3"), RMSNorm, SwiGLU, tied or
 * untied embeddings. A key config.json leaves out takes the default of that family's transformers
 * config class (HF_DEFAULTS), as the torch engine's ModelConfig.from_hf does too.
 * Not: MoE, sliding-window attention, other rope scalings (yarn, dynamic, longrope), activations
 * other than silu — refused by name.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type Family = "qwen2" | "llama" | "qwen3";

export interface Llama3RopeScaling {
  type: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Position interpolation: every frequency divided by `factor`. */
export interface LinearRopeScaling {
  type: "linear";
  factor: number;
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

/** The rope_scaling types both engines implement (model/rope.ts, azr_torch/modeling.py). */
export const ROPE_TYPES = ["default", "linear", "llama3"] as const;

export interface ArchConfig {
  family: Family;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (always in Qwen2; `attention_bias` elsewhere). */
  qkvBias: boolean;
  /** o_proj carries a bias (`attention_bias` in Llama and Qwen3; never in Qwen2). */
  oBias: boolean;
  /** RMSNorm on each head of q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const ARCHS: Record<string, Family> = {
  Qwen2ForCausalLM: "qwen2",
  LlamaForCausalLM: "llama",
  Qwen3ForCausalLM: "qwen3",
};

/**
 * What transformers' Qwen2Config, LlamaConfig and Qwen3Config assume for a key config.json leaves
 * out (a folder saved by hand, or by a tool that drops keys equal to its defaults). The torch
 * engine's ModelConfig.from_hf keeps the same table; test/torch/config-parity.test.ts holds both
 * to it. Qwen2/Qwen3 default `num_key_value_heads` to 32, not to the head count (only an explicit
 * null means "as many as the query heads" there), and Qwen3 defaults `head_dim` to 128.
 */
export const HF_DEFAULTS: Record<Family, { maxPositionEmbeddings: number; numKvHeads?: number; headDim?: number }> = {
  qwen2: { maxPositionEmbeddings: 32768, numKvHeads: 32 },
  llama: { maxPositionEmbeddings: 2048 },
  qwen3: { maxPositionEmbeddings: 32768, numKvHeads: 32, headDim: 128 },
};

/** Maps a parsed config.json; `where` names the file in errors. */
export function parseConfig(raw: Record<string, any>, where = "config.json"): ArchConfig {
  const arch = (raw.architectures as string[] | undefined)?.[0];
  const family: Family | undefined = (arch && ARCHS[arch]) || ({ qwen2: "qwen2", llama: "llama", qwen3: "qwen3" } as Record<string, Family>)[raw.model_type];
  if (!family)
    throw new ConfigError(`${where}: unknown architecture ${arch ?? raw.model_type ?? "(none given)"}; azr supports ${Object.keys(ARCHS).join(", ")}`);
  const need = (k: string): number => {
    if (typeof raw[k] !== "number") throw new ConfigError(`${where}: '${k}' is missing or not a number`);
    return raw[k];
  };
  if (raw.mlp_bias) throw new ConfigError(`${where}: mlp_bias=true is not supported`);
  if (raw.use_sliding_window) throw new ConfigError(`${where}: use_sliding_window=true is not supported (set it false; azr attends to the full context)`);
  // the MLP is SwiGLU with silu in both engines: another activation would run silently as silu
  const act = raw.hidden_act ?? "silu";
  if (act !== "silu") throw new ConfigError(`${where}: hidden_act '${act}' is not supported (azr's MLP is SwiGLU with silu)`);
  const defaults = HF_DEFAULTS[family];
  const numHeads = need("num_attention_heads");
  const hiddenSize = need("hidden_size");
  // absent → the class default; an explicit null → the head count (transformers' __post_init__)
  const numKvHeads: number = raw.num_key_value_heads ?? ("num_key_value_heads" in raw ? numHeads : defaults.numKvHeads ?? numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ConfigError(`${where}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}${"num_key_value_heads" in raw ? "" : ` (transformers' ${family} default for a missing num_key_value_heads; set it in config.json)`}`);
  const rope = ropeParameters(raw, where);
  const eos = raw.eos_token_id;
  const attentionBias = Boolean(raw.attention_bias);
  return {
    family,
    vocabSize: need("vocab_size"),
    hiddenSize,
    intermediateSize: need("intermediate_size"),
    numLayers: need("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim: raw.head_dim ?? defaults.headDim ?? Math.floor(hiddenSize / numHeads),
    rmsNormEps: raw.rms_norm_eps ?? 1e-6,
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    maxPositionEmbeddings: raw.max_position_embeddings ?? defaults.maxPositionEmbeddings,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    // Qwen2's attention has q/k/v biases and a bias-free o_proj whatever the config says;
    // Llama and Qwen3 put `attention_bias` on all four projections
    qkvBias: family === "qwen2" ? true : attentionBias,
    oBias: family === "qwen2" ? false : attentionBias,
    qkNorm: family === "qwen3",
    bosTokenId: raw.bos_token_id ?? undefined,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
  };
}

/**
 * RoPE base and scaling. transformers < 5 writes `rope_theta` and `rope_scaling` at the top level;
 * transformers >= 5 writes one `rope_parameters` object holding both (rope_type, rope_theta and
 * the scaling keys). Either is read; the top-level keys win where both are present.
 */
function ropeParameters(raw: Record<string, any>, where: string): { theta: number; scaling?: RopeScaling } {
  const params = raw.rope_parameters ?? undefined;
  if (params !== undefined && (typeof params !== "object" || !("rope_type" in params || "type" in params || "rope_theta" in params)))
    throw new ConfigError(`${where}: rope_parameters ${JSON.stringify(params)} is not one RoPE setting (per-layer-type rope_parameters are not supported)`);
  const theta = raw.rope_theta ?? params?.rope_theta ?? 10000;
  if (typeof theta !== "number" || !(theta > 0)) throw new ConfigError(`${where}: rope_theta ${JSON.stringify(theta)} is not a positive number`);
  const scaling = raw.rope_scaling ?? params;
  return { theta, scaling: parseRopeScaling(scaling, raw.rope_scaling ? `${where}: rope_scaling` : `${where}: rope_parameters`) };
}

function parseRopeScaling(rs: Record<string, any> | null | undefined, what: string): RopeScaling | undefined {
  if (!rs) return undefined;
  const type = rs.rope_type ?? rs.type;
  const supported = ROPE_TYPES.map((t) => `'${t}'`).join(", ");
  if (type === undefined) {
    // rope_parameters with only rope_theta is plain RoPE; a rope_scaling object must say its kind
    if (what.endsWith("rope_parameters") && !("factor" in rs)) return undefined;
    throw new ConfigError(`${what} has no rope_type (or type): name one of ${supported}`);
  }
  if (type === "default") return undefined;
  const num = (k: string): number => {
    if (typeof rs[k] !== "number" || !(rs[k] > 0)) throw new ConfigError(`${what}: rope_type '${type}' needs '${k}' as a positive number, got ${JSON.stringify(rs[k])}`);
    return rs[k];
  };
  if (type === "linear") return { type, factor: num("factor") };
  if (type === "llama3")
    return {
      type,
      factor: num("factor"),
      lowFreqFactor: num("low_freq_factor"),
      highFreqFactor: num("high_freq_factor"),
      originalMaxPositionEmbeddings: num("original_max_position_embeddings"),
    };
  throw new ConfigError(`${what}: rope_type '${type}' is not supported; azr implements ${supported} (both engines)`);
}

export function readConfig(dir: string): ArchConfig {
  const file = join(dir, "config.json");
  if (!existsSync(file)) throw new ConfigError(`no config.json in ${dir}: is this a Hugging Face model directory?`);
  return parseConfig(JSON.parse(readFileSync(file, "utf8")), file);
}

/**
 * The eos ids of `generation_config.json` in `dir` (none without the file): what Hugging Face's
 * generate stops at, often more than config.json names (Qwen2.5/Qwen3 instruct: <|im_end|> and
 * <|endoftext|>; Llama 3.x instruct: <|eot_id|>, <|eom_id|>, <|end_of_text|>).
 */
export function readGenerationEosIds(dir: string): number[] {
  const file = join(dir, "generation_config.json");
  if (!existsSync(file)) return [];
  let eos: unknown;
  try {
    eos = JSON.parse(readFileSync(file, "utf8")).eos_token_id;
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON (${(e as Error).message}): fix or delete it`);
  }
  const ids = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (!ids.every((x) => Number.isInteger(x) && x >= 0)) throw new ConfigError(`${file}: eos_token_id ${JSON.stringify(eos)} is not a token id or a list of them`);
  return ids as number[];
}

/** The config.json azr writes for a config (inverse of parseConfig). */
export function toHfConfig(c: ArchConfig): Record<string, unknown> {
  const arch = Object.entries(ARCHS).find(([, f]) => f === c.family)![0];
  return {
    architectures: [arch],
    model_type: c.family,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: hfRopeScaling(c.ropeScaling),
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.qkvBias,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    torch_dtype: "float32",
    use_cache: true,
  };
}

function hfRopeScaling(rs: RopeScaling | undefined): Record<string, unknown> | null {
  if (!rs) return null;
  if (rs.type === "linear") return { rope_type: "linear", factor: rs.factor };
  return {
    rope_type: "llama3",
    factor: rs.factor,
    low_freq_factor: rs.lowFreqFactor,
    high_freq_factor: rs.highFreqFactor,
    original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
  };
}

/** Every weight the architecture expects, with its shape, in Hugging Face names and [out, in] layout. */
export function weightShapes(c: ArchConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const h = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  m.set("model.embed_tokens.weight", [c.vocabSize, h]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + "input_layernorm.weight", [h]);
    m.set(p + "self_attn.q_proj.weight", [q, h]);
    m.set(p + "self_attn.k_proj.weight", [kv, h]);
    m.set(p + "self_attn.v_proj.weight", [kv, h]);
    if (c.qkvBias) {
      m.set(p + "self_attn.q_proj.bias", [q]);
      m.set(p + "self_attn.k_proj.bias", [kv]);
      m.set(p + "self_attn.v_proj.bias", [kv]);
    }
    if (c.qkNorm) {
      m.set(p + "self_attn.q_norm.weight", [c.headDim]);
      m.set(p + "self_attn.k_norm.weight", [c.headDim]);
    }
    m.set(p + "self_attn.o_proj.weight", [h, q]);
    if (c.oBias) m.set(p + "self_attn.o_proj.bias", [h]);
    m.set(p + "post_attention_layernorm.weight", [h]);
    m.set(p + "mlp.gate_proj.weight", [c.intermediateSize, h]);
    m.set(p + "mlp.up_proj.weight", [c.intermediateSize, h]);
    m.set(p + "mlp.down_proj.weight", [h, c.intermediateSize]);
  }
  m.set("model.norm.weight", [h]);
  if (!c.tieWordEmbeddings) m.set("lm_head.weight", [c.vocabSize, h]);
  return m;
}

export function paramCount(c: ArchConfig): number {
  let n = 0;
  for (const s of weightShapes(c).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}
