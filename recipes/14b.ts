/** Qwen2.5-14B (reference `scripts/selfplay/14b.sh`; azr-spec §11). */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  name: "14b",
  description: "Absolute Zero on Qwen2.5-14B, 8 × 80 GB GPUs.",
  model: { id: "Qwen/Qwen2.5-14B" },
  resources: {
    gpus: 8, // 14B needs 8 × 80 GB
    gpuMemoryGB: 80, // spec §11: every published recipe is sized for 80 GB GPUs
    rolloutTensorParallel: 4, // spec §11 table: a 14B engine spans 4 GPUs
    sequenceParallel: 8, // = GPU count
  },
  actors: {
    "rollout-engine": { replicas: 2, cpus: 4, gpus: 4, maxRestarts: 3 }, // two TP-4 engines cover the 8 GPUs
    learner: { replicas: 1, cpus: 16, gpus: 8, maxRestarts: 3 }, // FSDP over all 8 GPUs, colocated
    "code-executor": { replicas: 1, cpus: 16, gpus: 0, maxRestarts: 3 },
  },
  // full fine-tuning of 14B does not fit 80 GB GPUs with whole-model ranks (README "Running the
  // 3B–14B recipes"): FSDP shards weights, gradients and moments over the learner's GPUs
  trainer: { fsdp: true },
  executor: { workers: 16 },
  seed: {
    triplets: "14b_seed_io.jsonl", // OUTPUT_SEED_PATH of 14b.sh
    induction: "14b_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of 14b.sh
  },
};
