/** Llama-3.1-8B (reference `scripts/selfplay/llama.sh`): the 7b layout with Llama's seed and parsing settings. */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  extends: "7b", // 8B runs on the same 4-GPU layout (TP 2, SP 4)
  name: "llama8b",
  description: "Absolute Zero on Llama-3.1-8B, 4 × 80 GB GPUs (published: Code Avg 28.5 → 31.6, Math Avg 3.4 → 6.8).",
  model: { id: "meta-llama/Llama-3.1-8B" },
  seed: {
    triplets: "llama_64_seed_io.jsonl", // OUTPUT_SEED_PATH of llama.sh
    induction: "llama_64_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of llama.sh
    factor: 1, // the Llama run seeded 64 = 1 × B entries, not 4 × B
  },
  validation: {
    rejectMultipleFunctions: false, // Llama writes helpers; its run allowed several functions
    entryFunction: "last", // …and took the last def as the entry point
  },
};
