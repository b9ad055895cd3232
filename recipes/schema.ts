/**
 * The recipe schema: every setting of a self-play run, with its default, in one place
 * (nanoGPT-style: per-size files in this folder override only what differs, each with its reason).
 *
 * Defaults are the reference recipe's (azr-spec §11: Qwen2.5, B = 64, K = 6, n = 8, N = 10, …).
 * Where the spec marks a **Decision**, the default is azr's and the comment names the value
 * that restores the reference behaviour.
 *
 * Covers: the types, `BASE` (the defaults) and `RULES` (type / range / enum of every leaf, used
 * by validate.ts). Not: loading files (index.ts), checking that model paths exist (the driver
 * does that before any actor starts).
 */
import type { TaskType } from "../azr/tasks.ts";

export const ENGINES = ["ort", "torch"] as const;
/** Weight sync learner → rollout engine (actors/weight-sync/handle.ts has the same list). */
export const WEIGHT_SYNC = ["auto", "shm", "object-store", "inline"] as const;
export const DTYPES = ["fp32", "bf16"] as const;
export const SOLVE_FROM = ["same-step", "previous-step"] as const;
export const SOLVER_MIX = ["max-new", "half-new", "uniform"] as const;
export const REFERENCE_SAMPLING = ["uniform", "recency"] as const;
export const PROMPT_VARIANTS = ["full", "compact"] as const;
export const CAP_POLICIES = ["evict-oldest", "keep-first"] as const;
export const DEDUPE_MODES = ["exact", "none"] as const;
export const ENTRY_FUNCTION = ["first", "last"] as const;
export const EXECUTOR_MODES = ["pooled", "strict"] as const;
export const LEARNABILITY_MODES = ["one-minus", "inverse"] as const;
export const ADMISSION_FILTERS = ["all", "not-always-solved", "not-extremes"] as const;
export const INDUCTION_MODES = ["binary", "accuracy", "any"] as const;
export const COMBINE_MODES = ["sum", "multiply", "sum-multiply", "multiply-sum"] as const;
export const ADVANTAGE_STATS = ["per-response", "per-token"] as const;
export const LOSS_AGG = ["token-mean", "microbatch-token-mean", "seq-mean-token-mean"] as const;
export const KL_ESTIMATORS = ["off", "k1", "k2", "k3"] as const;
export const LR_SCHEDULES = ["constant", "cosine"] as const;
export const CODE_PROMPTS = ["r1", "evalplus"] as const;
export const MATH_TEMPLATES = ["azr", "azr_boxed"] as const;
/** `azr eval --suite` names: code (HumanEval+, MBPP+), math (six sets), all (both), tiny (held-out set), file (eval.data). */
export const EVAL_SUITES = ["code", "math", "tiny", "all", "file"] as const;
export const EVAL_FILE_FORMATS = ["cruxeval", "lcb"] as const;
export const ACTOR_NAMES = ["rollout-engine", "learner", "reference-model", "code-executor", "task-buffer", "selfplay"] as const;

type Of<T extends readonly string[]> = T[number];

export interface ActorResources {
  /** How many instances to start (0 = not started). */
  replicas: number;
  /** CPU cores each instance asks the node agent for. */
  cpus: number;
  /** GPUs each instance asks for. */
  gpus: number;
  /** Restarts before the run fails (the actor reloads its checkpointed state). */
  maxRestarts: number;
}

export interface ExtraTermSettings {
  enabled: boolean;
  coef: number;
  max: number;
}

export interface Recipe {
  name: string;
  description: string;
  model: {
    /** Hugging Face id (documentation and export) — weights are never downloaded by azr. */
    id: string;
    /** Local folder with config.json, weights and tokenizer; null = not provided yet. */
    path: string | null;
    engine: Of<typeof ENGINES>;
    /** Rollout and training dtype on GPUs; the ort engine always computes in fp32. */
    dtype: Of<typeof DTYPES>;
    /** Tokenize `<think>` / `</think>` as plain text (Qwen3 base ships them as untrained special tokens). */
    thinkTokensAsText: boolean;
  };
  resources: {
    /** GPUs the run needs in total (80 GB class). */
    gpus: number;
    /**
     * Memory each of those GPUs needs, in GB as GPUs are sold (80: the published runs' 80 GB
     * class); a machine whose GPUs report less stops before any actor starts. 0 = not checked.
     */
    gpuMemoryGB: number;
    rolloutTensorParallel: number;
    /** Ulysses sequence parallelism of the learner (= GPU count in the published recipes). */
    sequenceParallel: number;
    /**
     * The rollout engine and the learner share the same GPUs (the reference's hybrid engine:
     * vLLM at 40% memory beside the FSDP learner); false = they need separate GPUs.
     */
    colocate: boolean;
    /**
     * How each new weight version reaches the rollout engine: auto = a shared-memory file when
     * learner and rollout engine share a host, the JetStream object store otherwise; shm,
     * object-store or inline (through the driver, the old path) force one.
     */
    weightSync: Of<typeof WEIGHT_SYNC>;
  };
  actors: Record<Of<typeof ACTOR_NAMES>, ActorResources>;
  selfplay: {
    taskTypes: TaskType[];
    /** B: proposer prompts and solver tasks per task type per step. */
    batchSize: number;
    /** K: references shown to a deduction / abduction proposer. */
    references: number;
    /** N: inputs an induction proposer writes (⌊N/2⌋ shown, the rest hidden). */
    inductionInputs: number;
    /** n: learnability samples per valid proposal (not trained on). */
    nSamples: number;
    temperature: number;
    topP: number;
    /** Decision: 1.0 (paper era); 0 = greedy, the reference's current branch (r̄ ∈ {0, 1}). */
    learnabilityTemperature: number;
    /** Decision: same-step (paper Algorithm 1); previous-step = reference code. */
    solveFrom: Of<typeof SOLVE_FROM>;
    solverMix: Of<typeof SOLVER_MIX>;
    steps: number;
    /** Train the proposer role (the reference's `trainPropose`; false = solver-only ablation). */
    trainPropose: boolean;
    /** Solver-only warm-up steps before proposing starts (reference `pretrainPredSteps`; 0 = off). */
    pretrainPredSteps: number;
    /** uniform (published); recency-weighted is the reference's collapse-prone option. */
    referenceSampling: Of<typeof REFERENCE_SAMPLING>;
    /** Composite functions (§12): c earlier programs shown as g_0…g_{c−1}; 0/0 = off (abandoned by the paper). */
    compositeFunctionsMin: number;
    compositeFunctionsMax: number;
    /** Rollouts for step t+1 overlap the update of step t (0 = synchronous, as the reference). */
    offPolicy: number;
    /**
     * Also train the solver on the n learnability samples of every valid proposal (azr option, off by
     * default; off = the reference, which discards them): n× more solver responses per step at the
     * cost of training on them, none generated twice.
     */
    trainLearnabilitySamples: boolean;
  };
  prompt: {
    variant: Of<typeof PROMPT_VARIANTS>;
    /** Apply the tokenizer's chat template instead of the plain R1 text (instruct models). */
    chatTemplate: boolean;
    /** Prompt limit (reference current branch: 5,600): proposer prompts over it are re-drawn, solver tasks replaced, learnability prompts get r̄ = 0. */
    maxTokens: number;
    /** Times a proposer prompt is re-drawn before the step fails naming the buffer. */
    maxRedraws: number;
  };
  data: {
    maxPromptTokens: number;
    maxResponseTokens: number;
  };
  seed: {
    /** Folder that relative seed paths resolve against (relative to the repository root). */
    dir: string;
    /** Triplet seed JSONL (reference `OUTPUT_SEED_PATH`); null = make seeds with the model (`azr seed`). */
    triplets: string | null;
    /** Induction seed JSONL (reference `OUTPUT_CODE_F_SEED_PATH`); null = model-made. */
    induction: string | null;
    /** Error-type seed JSONL (reference `OUTPUT_ERROR_SEED_PATH`); only read when `error` is a task type. */
    errors: string | null;
    /** S: the seed set holds S·B entries (Llama: 1). */
    factor: number;
    /** Decision: 1.0; 0 = greedy, the reference's current branch. */
    temperature: number;
    /** Top up with model-made seeds when fewer than B survive re-validation (off: an error naming the file). */
    topUp: boolean;
    /**
     * Rounds of B proposals each seeding phase (triplets, induction) may take before it stops
     * with what it has; the reference loops until it has enough, forever if no proposal is valid.
     */
    maxRounds: number;
  };
  buffer: {
    maxEntries: number;
    /** Decision: evict-oldest; keep-first = reference (drops every new entry once full). */
    capPolicy: Of<typeof CAP_POLICIES>;
    /** Decision: exact; none = reference (duplicates inflate sampling weight). */
    dedupe: Of<typeof DEDUPE_MODES>;
  };
  validation: {
    bannedWords: string[];
    /** Error type only: keywords the proposer may not use to raise on purpose. */
    bannedErrorKeywords: string[];
    /** j: calls of f that must agree (paper j = 2). */
    determinismRuns: number;
    /** Also run under a second string-hash seed and reject order-dependent outputs. */
    hashSeedCheck: boolean;
    maxOutputChars: number;
    /** Decision: false; true = reference (duplicate induction inputs defeat the held-out check). */
    allowDuplicateInputs: boolean;
    rejectMultipleFunctions: boolean;
    entryFunction: Of<typeof ENTRY_FUNCTION>;
    rejectTestCodeInProgram: boolean;
  };
  executor: {
    timeoutSeconds: number;
    memoryMB: number;
    maxProcs: number;
    hashSeed: number;
    mode: Of<typeof EXECUTOR_MODES>;
    /** Sandboxed worker processes per code-executor actor. */
    workers: number;
    /** Retries of an answer check after an infrastructure failure, before it is excluded. */
    infraRetries: number;
  };
  reward: {
    /** Apply the format predicate F (§5.1). */
    formatCheck: boolean;
    /** Valid, well-formed proposal with r_prop = 0: −0.5 (reference, published); 0 = paper Eq. 6. */
    trivialProposal: number;
    learnability: Of<typeof LEARNABILITY_MODES>;
    validProgramFilter: Of<typeof ADMISSION_FILTERS>;
    inductionMode: Of<typeof INDUCTION_MODES>;
    extra: {
      combine: Of<typeof COMBINE_MODES>;
      /** Registered terms by name (azr/reward-registry.ts); users may add their own names. */
      terms: Record<string, ExtraTermSettings>;
    };
  };
  trainer: {
    /** Decision: per-response (paper Eq. 8); per-token = both reference branches. */
    advantageStats: Of<typeof ADVANTAGE_STATS>;
    lossAgg: Of<typeof LOSS_AGG>;
    clipLow: number;
    clipHigh: number;
    /** Dual-clip constant c for A < 0; null = off. */
    dualClip: number | null;
    entropyCoef: number;
    kl: { estimator: Of<typeof KL_ESTIMATORS>; coef: number };
    optimizer: {
      lr: number;
      betas: [number, number];
      eps: number;
      weightDecay: number;
      warmupSteps: number;
      schedule: Of<typeof LR_SCHEDULES>;
    };
    gradClip: number;
    /** azr safety choice (reference later branch): a step with a non-finite gradient norm is skipped. */
    skipNonFiniteGrad: boolean;
    /** |log π_θ − log π_old| clamp before exp (azr safety choice). */
    logRatioClamp: number;
    /** Sequences per micro-batch per device. */
    microBatch: number;
    /** Optimiser passes over each step's batch (1 → one optimiser step per self-play step). */
    epochs: number;
    gradientCheckpointing: boolean;
    /**
     * torch learner with several ranks: each rank keeps AdamW's moments for its share of the
     * parameters only (ZeRO stage 1, the same update); false: every rank holds all of them.
     */
    shardOptimizerState: boolean;
    /**
     * torch learner with several ranks: FSDP (FULL_SHARD) — weights, gradients and AdamW's moments
     * all divided over the ranks, each layer's weights gathered for its forward and backward; the
     * same update. Needed for full fine-tuning of 7B+ on 80 GB GPUs; torch >= 2.1; not with LoRA.
     */
    fsdp: boolean;
    /**
     * LoRA instead of full fine-tuning (PEFT layout; learner on either engine); null = full
     * fine-tuning. Weight sync then moves only the adapters (actors/weight-sync, kind lora-adapters).
     */
    lora: { r: number; alpha: number; dropout: number; targetModules: string[] } | null;
    saveEvery: number;
    keepCheckpoints: number;
    /** Seeds every sampler (driver, rollout engine) so a resumed run replays the same draws. */
    seed: number;
  };
  eval: {
    /** Steps between evaluations of the current policy during self-play (0 = never). */
    every: number;
    /** Suites to run (as `azr eval --suite`); empty = no in-training evaluation. */
    suites: Of<typeof EVAL_SUITES>[];
    /** First N problems of each benchmark (null = all, as the paper). */
    limit: number | null;
    /** The JSONL file of the `tiny` (held-out set) and `file` suites, relative to the repository root. */
    data: string | null;
    /** Format of a `file` suite's data (CruxEval, LiveCodeBench execution or generation). */
    format: Of<typeof EVAL_FILE_FORMATS>;
    /** More files for the `file` suite, each with its format: CruxEval and LiveCodeBench-Execution curves in one run (§10). */
    files: { data: string; format: Of<typeof EVAL_FILE_FORMATS> }[];
    codePrompt: Of<typeof CODE_PROMPTS>;
    mathTemplate: Of<typeof MATH_TEMPLATES>;
    /** New-token budget of every suite; null = each suite's own (spec §10, as `azr eval` uses: code 8,096, EvalPlus prompt 768, math 16,000). */
    maxNewTokens: number | null;
    /** Prompts generated together. */
    batchSize: number;
  };
}

/** A recipe file's content: overrides of a parent, which defaults to BASE. Arrays replace, objects merge. */
export type DeepPartial<T> = T extends (infer U)[] ? U[] : T extends [number, number] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type RecipeOverrides = DeepPartial<Recipe> & { extends?: string };

const actor = (replicas: number, cpus: number, gpus: number, maxRestarts = 3): ActorResources => ({ replicas, cpus, gpus, maxRestarts });
const term = (): ExtraTermSettings => ({ enabled: false, coef: 0, max: 0.5 });

/** The defaults: the reference recipe (§11) with azr's Decisions. */
export const BASE: Recipe = {
  name: "base",
  description: "Defaults shared by every recipe: the published Absolute Zero settings (B = 64, K = 6, n = 8, N = 10).",
  model: { id: "", path: null, engine: "torch", dtype: "bf16", thinkTokensAsText: false },
  resources: { gpus: 0, gpuMemoryGB: 0, rolloutTensorParallel: 1, sequenceParallel: 1, colocate: true, weightSync: "auto" },
  actors: {
    "rollout-engine": actor(1, 2, 0),
    learner: actor(1, 2, 0),
    "reference-model": actor(0, 1, 0), // no KL term in any published recipe → not started (with trainer.lora, 0 = the learner's frozen base scores it)
    "code-executor": actor(1, 2, 0),
    "task-buffer": actor(1, 1, 0),
    selfplay: actor(1, 1, 0, 0), // the driver: its failure ends the run (resume continues it)
  },
  selfplay: {
    taskTypes: ["deduction", "abduction", "induction"], // `error` exists but is off (abandoned by the paper)
    batchSize: 64,
    references: 6,
    inductionInputs: 10,
    nSamples: 8,
    temperature: 1.0,
    topP: 1.0,
    learnabilityTemperature: 1.0,
    solveFrom: "same-step",
    solverMix: "max-new",
    steps: 500, // published runs stopped at ≤ 500 (the reference's epochs would run ~960)
    trainPropose: true,
    pretrainPredSteps: 0,
    referenceSampling: "uniform",
    compositeFunctionsMin: 0,
    compositeFunctionsMax: 0,
    offPolicy: 0,
    trainLearnabilitySamples: false,
  },
  prompt: { variant: "full", chatTemplate: false, maxTokens: 5600, maxRedraws: 100 },
  data: { maxPromptTokens: 6144, maxResponseTokens: 8096 },
  seed: { dir: "../shared/azr-seeds", triplets: null, induction: null, errors: null, factor: 4, temperature: 1.0, topUp: true, maxRounds: 100 },
  buffer: { maxEntries: 16384, capPolicy: "evict-oldest", dedupe: "exact" },
  validation: {
    bannedWords: ["logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime", "time", "hashlib", "hmac", "bcrypt", "os.sys", "os.path", "sys.exit", "os.environ", "calendar"],
    bannedErrorKeywords: ["raise"],
    determinismRuns: 2,
    hashSeedCheck: false,
    maxOutputChars: 400,
    allowDuplicateInputs: false,
    rejectMultipleFunctions: true,
    entryFunction: "first",
    rejectTestCodeInProgram: false,
  },
  executor: { timeoutSeconds: 10, memoryMB: 1024, maxProcs: 1, hashSeed: 0, mode: "pooled", workers: 2, infraRetries: 2 },
  reward: {
    formatCheck: true,
    trivialProposal: -0.5,
    learnability: "one-minus",
    validProgramFilter: "all",
    inductionMode: "binary",
    extra: {
      combine: "sum",
      terms: {
        inputDiversity: term(),
        outputDiversity: term(),
        hierarchicalInputDiversity: term(),
        hierarchicalOutputDiversity: term(),
        editDistance: term(),
        complexity: term(),
        halstead: term(),
      },
    },
  },
  trainer: {
    advantageStats: "per-response",
    lossAgg: "token-mean",
    clipLow: 0.2,
    clipHigh: 0.2, // reference later branch: 0.28 with dualClip 3
    dualClip: null,
    entropyCoef: 0.001, // reference later branch: 0
    kl: { estimator: "off", coef: 0 },
    optimizer: { lr: 1e-6, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, warmupSteps: 0, schedule: "constant" },
    gradClip: 1.0,
    skipNonFiniteGrad: true,
    logRatioClamp: 20,
    microBatch: 16,
    epochs: 1,
    gradientCheckpointing: true,
    shardOptimizerState: true,
    fsdp: false,
    lora: null,
    saveEvery: 10,
    keepCheckpoints: 2,
    seed: 0,
  },
  eval: { every: 10, suites: [], limit: null, data: null, format: "cruxeval", files: [], codePrompt: "r1", mathTemplate: "azr", maxNewTokens: null, batchSize: 8 },
};

// ------------------------------------------------------------------ rules for every leaf
export type Rule =
  | { kind: "number"; min?: number; max?: number; integer?: boolean; nullable?: boolean; exclusiveMin?: boolean }
  | { kind: "string"; nullable?: boolean; nonEmpty?: boolean }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "enum[]"; values: readonly string[]; minItems?: number; unique?: boolean }
  | { kind: "string[]" }
  | { kind: "pair"; min: number; max: number }
  | { kind: "terms" }
  | { kind: "lora" }
  | { kind: "files" };

const int = (min: number, max = Number.MAX_SAFE_INTEGER): Rule => ({ kind: "number", integer: true, min, max });
const num = (min: number, max = Infinity, exclusiveMin = false): Rule => ({ kind: "number", min, max, exclusiveMin });
const en = (values: readonly string[]): Rule => ({ kind: "enum", values });
const bool: Rule = { kind: "boolean" };

const actorRules = (name: string): Record<string, Rule> => ({
  [`actors.${name}.replicas`]: int(0, 1024),
  [`actors.${name}.cpus`]: num(0, 1024),
  [`actors.${name}.gpus`]: int(0, 1024),
  [`actors.${name}.maxRestarts`]: int(0, 1000),
});

/** The rule of every leaf path of {@link Recipe} (a test checks none is missing). */
export const RULES: Record<string, Rule> = {
  name: { kind: "string", nonEmpty: true },
  description: { kind: "string" },
  "model.id": { kind: "string" },
  "model.path": { kind: "string", nullable: true },
  "model.engine": en(ENGINES),
  "model.dtype": en(DTYPES),
  "model.thinkTokensAsText": bool,
  "resources.gpus": int(0, 4096),
  "resources.gpuMemoryGB": num(0, 1e6),
  "resources.rolloutTensorParallel": int(1, 64),
  "resources.sequenceParallel": int(1, 64),
  "resources.colocate": bool,
  "resources.weightSync": en(WEIGHT_SYNC),
  ...Object.assign({}, ...ACTOR_NAMES.map(actorRules)),
  "selfplay.taskTypes": { kind: "enum[]", values: ["deduction", "abduction", "induction", "error"], minItems: 1, unique: true },
  "selfplay.batchSize": int(1, 1 << 16),
  "selfplay.references": int(1, 64),
  "selfplay.inductionInputs": int(2, 64),
  "selfplay.nSamples": int(2, 1024), // n ≥ 2: with one sample r̄ ∈ {0, 1} and learnability is always 0
  "selfplay.temperature": num(0, 10),
  "selfplay.topP": num(0, 1, true),
  "selfplay.learnabilityTemperature": num(0, 10),
  "selfplay.solveFrom": en(SOLVE_FROM),
  "selfplay.solverMix": en(SOLVER_MIX),
  "selfplay.steps": int(1, 1e7),
  "selfplay.trainPropose": bool,
  "selfplay.pretrainPredSteps": int(0, 1e7),
  "selfplay.referenceSampling": en(REFERENCE_SAMPLING),
  "selfplay.compositeFunctionsMin": int(0, 16),
  "selfplay.compositeFunctionsMax": int(0, 16),
  "selfplay.offPolicy": int(0, 1),
  "selfplay.trainLearnabilitySamples": bool,
  "prompt.variant": en(PROMPT_VARIANTS),
  "prompt.chatTemplate": bool,
  "prompt.maxTokens": int(16, 1 << 20),
  "prompt.maxRedraws": int(0, 100_000),
  "data.maxPromptTokens": int(16, 1 << 20),
  "data.maxResponseTokens": int(1, 1 << 20),
  "seed.dir": { kind: "string", nonEmpty: true },
  "seed.triplets": { kind: "string", nullable: true, nonEmpty: true },
  "seed.induction": { kind: "string", nullable: true, nonEmpty: true },
  "seed.errors": { kind: "string", nullable: true, nonEmpty: true },
  "seed.factor": int(1, 1024),
  "seed.temperature": num(0, 10),
  "seed.topUp": bool,
  "seed.maxRounds": int(1, 1e7),
  "buffer.maxEntries": int(1, 1e8),
  "buffer.capPolicy": en(CAP_POLICIES),
  "buffer.dedupe": en(DEDUPE_MODES),
  "validation.bannedWords": { kind: "string[]" },
  "validation.bannedErrorKeywords": { kind: "string[]" },
  "validation.determinismRuns": int(1, 16),
  "validation.hashSeedCheck": bool,
  "validation.maxOutputChars": int(1, 1e7),
  "validation.allowDuplicateInputs": bool,
  "validation.rejectMultipleFunctions": bool,
  "validation.entryFunction": en(ENTRY_FUNCTION),
  "validation.rejectTestCodeInProgram": bool,
  "executor.timeoutSeconds": num(0, 3600, true),
  "executor.memoryMB": int(16, 1 << 20),
  "executor.maxProcs": int(1, 1024),
  "executor.hashSeed": int(0, 4294967295),
  "executor.mode": en(EXECUTOR_MODES),
  "executor.workers": int(1, 1024),
  "executor.infraRetries": int(0, 100),
  "reward.formatCheck": bool,
  "reward.trivialProposal": num(-1, 1),
  "reward.learnability": en(LEARNABILITY_MODES),
  "reward.validProgramFilter": en(ADMISSION_FILTERS),
  "reward.inductionMode": en(INDUCTION_MODES),
  "reward.extra.combine": en(COMBINE_MODES),
  "reward.extra.terms": { kind: "terms" },
  "trainer.advantageStats": en(ADVANTAGE_STATS),
  "trainer.lossAgg": en(LOSS_AGG),
  "trainer.clipLow": num(0, 1, true),
  "trainer.clipHigh": num(0, 10, true),
  "trainer.dualClip": { kind: "number", min: 1, max: 100, nullable: true, exclusiveMin: true },
  "trainer.entropyCoef": num(0, 1),
  "trainer.kl.estimator": en(KL_ESTIMATORS),
  "trainer.kl.coef": num(0, 100),
  "trainer.optimizer.lr": num(0, 1, true),
  "trainer.optimizer.betas": { kind: "pair", min: 0, max: 0.999999 },
  "trainer.optimizer.eps": num(0, 1, true),
  "trainer.optimizer.weightDecay": num(0, 1),
  "trainer.optimizer.warmupSteps": int(0, 1e7),
  "trainer.optimizer.schedule": en(LR_SCHEDULES),
  "trainer.gradClip": num(0, 1e6, true),
  "trainer.skipNonFiniteGrad": bool,
  "trainer.logRatioClamp": num(0, 100, true),
  "trainer.microBatch": int(1, 1 << 16),
  "trainer.epochs": int(1, 100),
  "trainer.gradientCheckpointing": bool,
  "trainer.shardOptimizerState": bool,
  "trainer.fsdp": bool,
  "trainer.lora": { kind: "lora" },
  "trainer.saveEvery": int(1, 1e7),
  "trainer.keepCheckpoints": int(1, 1000),
  "trainer.seed": int(0, 4294967295),
  "eval.every": int(0, 1e7),
  "eval.suites": { kind: "enum[]", values: EVAL_SUITES, unique: true },
  "eval.limit": { kind: "number", integer: true, min: 1, max: 1e9, nullable: true },
  "eval.data": { kind: "string", nullable: true, nonEmpty: true },
  "eval.format": en(EVAL_FILE_FORMATS),
  "eval.files": { kind: "files" },
  "eval.batchSize": int(1, 1 << 16),
  "eval.codePrompt": en(CODE_PROMPTS),
  "eval.mathTemplate": en(MATH_TEMPLATES),
  "eval.maxNewTokens": { kind: "number", integer: true, min: 1, max: 1 << 20, nullable: true },
};
