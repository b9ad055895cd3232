/** Qwen2.5-Coder-14B (reference `scripts/selfplay/coder14b.sh`): the 14b layout with the Coder model and its seeds. */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  extends: "14b", // same size and hardware
  name: "coder14b",
  description: "Absolute Zero on Qwen2.5-Coder-14B, 8 × 80 GB GPUs (published: Code Avg 60.0 → 63.6, Math Avg 20.2 → 43.0).",
  model: { id: "Qwen/Qwen2.5-Coder-14B" },
  seed: {
    triplets: "14b_coder_seed_io.jsonl", // OUTPUT_SEED_PATH of coder14b.sh
    induction: "14b_coder_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of coder14b.sh
  },
};
