/** Qwen2.5-7B (reference `scripts/selfplay/7b.sh`; azr-spec §11). */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  name: "7b",
  description: "Absolute Zero on Qwen2.5-7B, 4 × 80 GB GPUs (published: Code Avg 52.0 → 55.2, Math Avg 27.5 → 38.4).",
  model: { id: "Qwen/Qwen2.5-7B" },
  resources: {
    gpus: 4, // 7–8B needs 4 × 80 GB
    gpuMemoryGB: 80, // spec §11: every published recipe is sized for 80 GB GPUs
    rolloutTensorParallel: 2, // spec §11 table
    sequenceParallel: 4, // = GPU count
  },
  actors: {
    "rollout-engine": { replicas: 2, cpus: 4, gpus: 2, maxRestarts: 3 }, // two TP-2 engines cover the 4 GPUs (the reference's 4/2 data-parallel rollout)
    learner: { replicas: 1, cpus: 8, gpus: 4, maxRestarts: 3 }, // FSDP over all 4 GPUs, colocated
    "code-executor": { replicas: 1, cpus: 8, gpus: 0, maxRestarts: 3 },
  },
  // full fine-tuning of 7–8B does not fit 80 GB GPUs with whole-model ranks (README "Running the
  // 3B–14B recipes"): FSDP shards weights, gradients and moments over the learner's GPUs
  trainer: { fsdp: true },
  executor: { workers: 8 },
  seed: {
    triplets: "7b_seed_io.jsonl", // OUTPUT_SEED_PATH of 7b.sh
    induction: "7b_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of 7b.sh
  },
};
