/** Qwen2.5-Coder-3B: the smallest published run (reference `scripts/selfplay/coder3b.sh`; azr-spec §11). */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  name: "coder3b",
  description: "Absolute Zero on Qwen2.5-Coder-3B, 2 × 80 GB GPUs (published: Code Avg 51.2 → 54.9, Math Avg 18.8 → 26.5).",
  model: { id: "Qwen/Qwen2.5-Coder-3B" },
  resources: {
    gpus: 2, // the reference ran 3B on 2 × 80 GB
    gpuMemoryGB: 80, // spec §11: every published recipe is sized for 80 GB GPUs
    rolloutTensorParallel: 2, // spec §11 table
    sequenceParallel: 2, // = GPU count in every published recipe
  },
  actors: {
    "rollout-engine": { replicas: 1, cpus: 4, gpus: 2, maxRestarts: 3 }, // one TP-2 engine over both GPUs
    learner: { replicas: 1, cpus: 4, gpus: 2, maxRestarts: 3 }, // FSDP over both GPUs, colocated with the rollout engine
    "code-executor": { replicas: 1, cpus: 8, gpus: 0, maxRestarts: 3 }, // 8 × 192 learnability checks per step
  },
  executor: { workers: 8 }, // matches the executor actor's cpus
  seed: {
    triplets: "3b_coder_seed_io.jsonl", // OUTPUT_SEED_PATH of coder3b.sh
    induction: "3b_coder_code_f_seed_io.jsonl", // OUTPUT_CODE_F_SEED_PATH of coder3b.sh
  },
};
