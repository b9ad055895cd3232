/** Qwen3-4B-Base (reference `scripts/selfplay/qwen3_4b.sh`; azr-spec §3.1, §11). */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  extends: "coder3b", // a 2-GPU layout like the 3B runs
  name: "qwen3-4b",
  description: "Absolute Zero on Qwen3-4B-Base, 2 × 80 GB GPUs.",
  model: {
    id: "Qwen/Qwen3-4B-Base",
    thinkTokensAsText: true, // its <think>/</think> special tokens have untrained embeddings: tokenize them as text
  },
  trainer: { microBatch: 8 }, // the reference halves the micro-batch for Qwen3-4B (48 accumulation steps)
  seed: {
    triplets: "qwen3_4b_seed_io.jsonl", // OUTPUT_SEED_PATH of qwen3_4b.sh
    induction: "qwen3_4b_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of qwen3_4b.sh
  },
  validation: {
    rejectMultipleFunctions: false, // the Qwen3 run allowed several functions
    entryFunction: "last", // …and took the last def as the entry point
  },
};
