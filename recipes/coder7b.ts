/** Qwen2.5-Coder-7B (reference `scripts/selfplay/coder7b.sh`): the 7b layout with the Coder model and its seeds. */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  extends: "7b", // same size and hardware as the base 7B run
  name: "coder7b",
  description: "Absolute Zero on Qwen2.5-Coder-7B, 4 × 80 GB GPUs (published: Code Avg 56.6 → 61.6, Math Avg 23.9 → 39.1).",
  model: { id: "Qwen/Qwen2.5-Coder-7B" },
  seed: {
    triplets: "7b_coder_seed_io.jsonl", // OUTPUT_SEED_PATH of coder7b.sh
    induction: "7b_coder_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of coder7b.sh
  },
  eval: { mathTemplate: "azr_boxed" }, // the Coder-7B math results used the \boxed{} template (spec §10)
};
