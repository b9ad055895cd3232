/**
 * Hugging Face `config.json` → ArchConfig, the one place HF keys are mapped. Covers the decoder
 * family azr runs: Qwen2/Qwen2.5 (q/k/v bias), Llama 3.x (rope_scaling "llama3"), Qwen3 (q/k
 * RMSNorm, explicit head_dim); GQA, RoPE, RMSNorm, SwiGLU, tied or untied embeddings.
 * Not: MoE, sliding-window attention, other rope scalings (yarn, linear, dynamic) — refused by name.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type Family = "qwen2" | "llama" | "qwen3";

export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

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
  ropeScaling?: Llama3RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (always in Qwen2; `attention_bias` elsewhere). */
  qkvBias: boolean;
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
  const numHeads = need("num_attention_heads");
  const hiddenSize = need("hidden_size");
  const numKvHeads = raw.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) throw new ConfigError(`${where}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  const eos = raw.eos_token_id;
  return {
    family,
    vocabSize: need("vocab_size"),
    hiddenSize,
    intermediateSize: need("intermediate_size"),
    numLayers: need("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim: raw.head_dim ?? hiddenSize / numHeads,
    rmsNormEps: raw.rms_norm_eps ?? 1e-6,
    ropeTheta: raw.rope_theta ?? 10000,
    ropeScaling: parseRopeScaling(raw.rope_scaling, where),
    maxPositionEmbeddings: raw.max_position_embeddings ?? 4096,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    qkvBias: family === "qwen2" ? true : Boolean(raw.attention_bias),
    qkNorm: family === "qwen3",
    bosTokenId: raw.bos_token_id ?? undefined,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
  };
}

function parseRopeScaling(rs: Record<string, any> | null | undefined, where: string): Llama3RopeScaling | undefined {
  if (!rs) return undefined;
  const type = rs.rope_type ?? rs.type;
  if (type === "default") return undefined;
  if (type !== "llama3") throw new ConfigError(`${where}: rope_scaling type '${type}' is not supported (azr supports 'llama3')`);
  return {
    factor: rs.factor,
    lowFreqFactor: rs.low_freq_factor,
    highFreqFactor: rs.high_freq_factor,
    originalMaxPositionEmbeddings: rs.original_max_position_embeddings,
  };
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
    rope_scaling: c.ropeScaling
      ? {
          rope_type: "llama3",
          factor: c.ropeScaling.factor,
          low_freq_factor: c.ropeScaling.lowFreqFactor,
          high_freq_factor: c.ropeScaling.highFreqFactor,
          original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
        }
      : null,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.qkvBias,
    bos_token_id: c.bosTokenId ?? null,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    torch_dtype: "float32",
    use_cache: true,
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
