/**
 * Qwen2.5-3B (base, not Coder). Not a published run: the reference ships no script or seeds for
 * it. It reuses the coder3b layout (same size, same GPUs) and makes its own seeds.
 */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  extends: "coder3b", // same parameter count → same hardware layout and batch shapes
  name: "3b",
  description: "Absolute Zero on Qwen2.5-3B (unpublished size; coder3b's layout), 2 × 80 GB GPUs, model-made seeds.",
  model: { id: "Qwen/Qwen2.5-3B" },
  seed: {
    triplets: null, // no published seed file for this model: `azr seed` makes 256 triplets with it
    induction: null, // …and 256 induction entries
  },
};
