/**
 * `tiny`: the embedded CPU default — azr's own tiny base model on 2 cores, onnxruntime-node, the
 * compact prompts. It keeps everything spec §11 says a scaled run must keep (three task types,
 * six groups, TRR++, the reward levels, n ≥ 2, tags, fences, format regex, every executor check,
 * one optimiser step per self-play step, the solver mix) and scales the rest down.
 *
 * The sizes below are the spec's suggested starting points; the step count is timed so that
 * `make selfplay` finishes in ≤ 30 minutes on 2 cores (the measured duration is in the README).
 *
 * Prompt lengths measured with azr/prompts.ts and the tiny tokenizer (data/tiny/tokenizer.json,
 * 2026-11-26), compact variant: with programs of the tiny corpus generator as references, the
 * proposer prompt (K = 3) is median 423 / p95 474 / max 517 tokens, the induction proposer 126 /
 * 158 / 194, the deduction solver 108 / 140 / 176. With the (much larger) published
 * Qwen2.5-Coder-3B seed programs as references the proposer is median 757 / p95 1,236 tokens —
 * the upper end a grown buffer could approach. (Full prompts, K = 6, same seeds: median 2,247.)
 */
import type { RecipeOverrides } from "./schema.ts";

export const recipe: RecipeOverrides = {
  name: "tiny",
  description: "Embedded CPU default: azr's tiny base model, 2 cores, compact prompts, B = 16 per group.",
  model: {
    id: "azr/tiny", // project-made; never downloaded
    path: "data/tiny", // written by `make base-model` (config.json, model.safetensors, tokenizer.json)
    engine: "ort", // in-process onnxruntime-node: the only engine that needs no GPU or PyTorch
    dtype: "fp32", // onnxruntime-node has no bf16 on CPU
  },
  resources: { gpus: 0, rolloutTensorParallel: 1, sequenceParallel: 1 }, // CPU only
  actors: {
    // The synchronous loop (selfplay.offPolicy 0) generates, then trains: each takes both cores in its turn. Measured
    // 2026-11-28 on a 2-core EPYC: generation 7.5 → 5.0 s a step (two batch lanes), training ~1.5× faster on two
    // intra-op threads. (Two threads train repeatably since the embedding's gradient left onnxruntime's ScatterND:
    // model/train/graph.ts; they round differently from one thread, so a run's weights depend on this number.)
    // With offPolicy 1 they run at once: give each one core (azr selfplay prints that note).
    "rollout-engine": { replicas: 1, cpus: 2, gpus: 0, maxRestarts: 3 },
    learner: { replicas: 1, cpus: 2, gpus: 0, maxRestarts: 3 },
    "code-executor": { replicas: 1, cpus: 1, gpus: 0, maxRestarts: 3 },
  },
  selfplay: {
    // B = 16 a group, half the steps of B = 8 in the same time. Measured 2026-11-27 on the held-out set (paired
    // change d/a/i, points): B = 16 × 60 steps +4.0 / +6.5 / +0.6; B = 8 × 120 steps +2.7 / +6.4 / +1.2 (the
    // spec's §11 example, the default before); B = 8 with n = 8 × 100 steps +1.5 / +7.3 / +2.0.
    batchSize: 16,
    references: 3, // K ≈ 3 keeps the compact proposer prompt short
    inductionInputs: 6, // N even: 3 shown / 3 hidden
    nSamples: 4, // n ≥ 2 keeps learnability informative; 4 → r_prop ∈ {0.25, 0.5, 0.75}
    // Measured 2026-11-27: 26.1 min on idle cores (~24 s a step, seeding and the eval every 5 steps included); 9.2 min on
    // another 2-core machine (~8.5 s a step). There 90 and 120 steps moved deduction no further (docs/tiny-model.md). With the rollout
    // engine on both cores (above): 14.0 min on a third (2026-11-28, 13.5 s a step; 16.2 s with one core).
    steps: 60,
    // azr option (off in every other recipe, as the reference): the n = 4 learnability samples of every valid
    // proposal are trained as solver responses too, ~5× the solver's data a step for no extra generation.
    // Measured 2026-11-27 on the old 1,189-task-a-type held-out set (40% of it seen in pretraining under other
    // names; docs/tiny-model.md has the rebuilt set's figures) (paired change d/a/i, points): 120 steps with it
    // at lr 5e-5 +2.1 / +4.8 / +1.3, at lr 1e-4 +1.4 / +6.6 / +0.4; 140 steps without it (lr 5e-5) +2.5 / +2.0 / −0.3.
    trainLearnabilitySamples: true,
  },
  prompt: {
    variant: "compact", // a tiny model follows a few lines, not 500 words (§3.4)
    maxTokens: 896, // proposer prompts over this are re-drawn: ~2× the measured p95 (474) of corpus-sized references
  },
  data: {
    maxPromptTokens: 1024, // with 256 response tokens, within the tokenizer's model_max_length 2,048
    maxResponseTokens: 256, // tiny responses are short programs and values
  },
  seed: {
    dir: "data/tiny", // seeds made by the project sit beside the tiny model
    triplets: null, // none yet: start from the identity triplet and top up with model-made seeds
    induction: null,
    // Bounds the model-made top-up (from the identity seeds: B proposals a round, a few seconds a round).
    // With B = 16 the current base model filled its 64 triplet and 64 induction seeds in 5 rounds each (2026-11-27); an earlier
    // 211-step model made none, so the bound keeps a weak model from looping.
    maxRounds: 8,
  },
  executor: { workers: 1 }, // one sandboxed worker on a 2-core machine
  trainer: {
    // Measured 2026-11-27 from data/tiny. Without the learnability samples (140 steps, the 370-task prefix of
    // the held-out set) 1e-4 lost induction (−3.5) and 5e-5 was steadier; with them (5× the solver's data a
    // step) 1e-4 gave the largest abduction gain (+6.6, separate intervals apart) and no loss.
    optimizer: { lr: 1e-4 },
    // Smaller micro-batches pad less: 6-step probes (the same batches) trained in ~6.1 s a step at 4, ~7.2 at 8,
    // ~9.1 at 16; the update is the same (the loss is a token mean over the whole step).
    microBatch: 4,
    gradientCheckpointing: false, // activations are small; recomputation would only cost time
    saveEvery: 5, // short runs: checkpoint often enough that resume is exercised
  },
  eval: {
    // The paper's suites are far beyond a tiny model; its own held-out tasks (never pretrained
    // on) show whether self-play moves it. The file interleaves deduction, abduction and
    // induction, so 30 problems = 10 per task type; 12 took 4 s greedy on the loaded 2 cores
    // (`azr eval --suite tiny --limit 12`, 2026-11-26), so this costs ≈ 10 s every 5 steps.
    every: 5,
    suites: ["tiny"],
    data: "data/tiny/heldout.jsonl",
    limit: 30,
    maxNewTokens: 256,
  },
};
