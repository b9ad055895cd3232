/**
 * One Absolute Zero self-play step (azr-spec §2), over the ports of ports.ts:
 * propose → validate → learnability estimate → admit → solve → TRR++ advantages → one update.
 *
 * Covers: the order of the phases, which samples are trained on, the rewards each gets, and the
 * step's metrics. The rules themselves are azr/'s pure functions; execution is the executor's.
 * Not: checkpoints, weight publication, the loop (driver.ts); the prompt draws and re-draws
 * (step-prompts.ts); the figures every group has (step-metrics.ts).
 *
 * Departures from the reference, each a recipe option (spec Decisions):
 * - learnability samples are drawn at `selfplay.learnabilityTemperature` (default 1.0; the
 *   reference's current branch decodes them greedily);
 * - the solver solves this step's new tasks (`selfplay.solveFrom: same-step`, paper Algorithm 1);
 *   `previous-step` reproduces the reference, which solves what step t−1 proposed. The solve
 *   batch is its own generation phase here (its tasks depend on this step's admissions).
 * - the optional composite functions (§12, off by default: `selfplay.compositeFunctionsMax` 0) show
 *   deduction / abduction proposers earlier programs as g_i that their f must call;
 * - the optional `error` task type (§12, off by default) runs when a recipe lists it: its
 *   proposals are run as deduction checks and the gold answer is the exception's type name or
 *   `NoError` (azr/error-task.ts); its answers are compared here, in trusted code.
 * - the optional extra proposer rewards (§6.3, all off in the published recipes) are added for
 *   valid, well-formed proposals with r_prop > 0 when `reward.extra.terms` enables them, against
 *   the buffer's value counters as they stood before this step's admissions.
 */
import {
  admits, broadcastAdvantage, deriveRng, groupKey, learnability, nextU32, proposerOptions, proposerPrompt, proposerReward,
  readInductionProposer, readSolver, readTripletProposer, solveRate, solverPrompt, solverReward, summarize, trrAdvantages,
  countReasons, programLines, errorGoldOfRuns, bannedErrorKeyword, errorCorrect,
  createRewardRegistry, extraTerms, combineExtras, compositeProblem, withComposites,
  type GroupKey, type RewardRegistry, type TermSettings, type CombineMode, type InductionEntry, type Prompt, type Scored, type TaskType, type Triplet,
} from "../../azr/index.ts";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import { abductionTask, deductionTask, inductionTask, type AnswerCheck, type ProposalCheck, type SolverTask as ExecTask } from "../code-executor/index.ts";
import { groupMetrics, type GroupMetrics, type Trained } from "./step-metrics.ts";
import { drawComposites, redrawLongProposerPrompts, redrawLongSolverTasks, solverCase, type ProposalPrompt, type SolveItem } from "./step-prompts.ts";
import type { BufferPort, ExecutorPort, LearnerPort, ReferencePort, RolloutPort, RolloutSample } from "./ports.ts";

export type { GroupMetrics, Spread } from "./step-metrics.ts";

/** The recipe fields a step reads (a Recipe satisfies it structurally). */
export interface StepConfig {
  selfplay: {
    taskTypes: TaskType[]; batchSize: number; references: number; inductionInputs: number; nSamples: number;
    temperature: number; topP: number; learnabilityTemperature: number; solveFrom: "same-step" | "previous-step"; trainPropose: boolean;
    /** Steps the behaviour policy may lag the learner (0: synchronous, the reference; 1: rollouts overlap the previous update). */
    offPolicy?: number;
    /** Steps 1…N are solver-only (the reference's `pretrainPredSteps`, §12): nothing is proposed, the solver draws from the buffers. Absent/0: off. */
    pretrainPredSteps?: number;
    /** Also train the solver on the learnability samples (azr option; absent/false = the reference: not trained on). */
    trainLearnabilitySamples?: boolean;
    /** Composite functions (§12): each deduction / abduction proposer is shown c ∈ [min, max] earlier programs as g_0…g_{c−1}. Absent or 0/0: off. */
    compositeFunctionsMin?: number;
    compositeFunctionsMax?: number;
  };
  prompt: { variant: "full" | "compact"; chatTemplate: boolean; maxTokens: number; maxRedraws: number };
  data: { maxResponseTokens: number };
  validation: { bannedWords: string[]; bannedErrorKeywords: string[]; rejectMultipleFunctions: boolean; entryFunction: "first" | "last"; allowDuplicateInputs: boolean; rejectTestCodeInProgram?: boolean };
  executor: { timeoutSeconds: number };
  reward: {
    formatCheck: boolean; trivialProposal: number; learnability: "one-minus" | "inverse";
    validProgramFilter: "all" | "not-always-solved" | "not-extremes"; inductionMode: "binary" | "accuracy" | "any";
    extra: { combine: CombineMode; terms: Record<string, TermSettings> };
  };
  trainer: { advantageStats: "per-response" | "per-token"; seed: number };
}

export interface StepPorts {
  rollout: RolloutPort;
  executor: ExecutorPort;
  buffer: BufferPort;
  learner: LearnerPort;
  /** Present when the loss has a KL term: every trained sequence gets its reference log-probs. */
  reference?: ReferencePort;
  /** Extra proposer reward terms (built-ins plus the user's); default: the built-ins. */
  rewards?: RewardRegistry;
}

export type Entry = Triplet | InductionEntry;

/** What the next step needs from this one (`solveFrom: previous-step`). */
export interface StepCarry {
  fresh: Partial<Record<TaskType, Entry[]>>;
}

export interface StepResult {
  step: number;
  groups: Partial<Record<GroupKey, GroupMetrics>>;
  train: TrainStats | null;
  bufferSizes: Record<string, number>;
  /** Distinct types and unique values of each buffer's inputs and outputs (§8). */
  bufferValues: Awaited<ReturnType<BufferPort["valueStats"]>>;
  seconds: Record<string, number>;
  /** Tokens generated (proposals, learnability samples, answers) and trained this step, and their rates (§8 tokens/s). */
  tokens: StepTokens;
  /** A few of this step's proposals with their verdicts, for the run's views. */
  samples: { type: TaskType; program: string; verdict: string; solveRate?: number }[];
  carry: StepCarry;
}

export interface StepTokens {
  generated: number;
  /** Wall time inside the rollout engine's generate calls. */
  generateSeconds: number;
  generatedPerSecond: number;
  /** Response tokens the update learned from (as the learner counts them); 0 before it. */
  trained: number;
  trainedPerSecond: number;
}

/** Items of a stream that answers n requests in any order, placed by their index; a missing one is an error naming `what`. */
async function collectIndexed<T extends { index: number }>(stream: AsyncIterable<T>, n: number, what: string): Promise<T[]> {
  const out = new Array<T>(n);
  for await (const v of stream) out[v.index] = v;
  for (let i = 0; i < n; i++) if (!out[i]) throw new Error(`no ${what} came back for item ${i} of ${n}`);
  return out;
}

function execTask(type: Exclude<TaskType, "error">, e: Entry): ExecTask {
  if (type === "induction") return inductionTask(e as InductionEntry);
  return type === "deduction" ? deductionTask(e as Triplet) : abductionTask(e as Triplet);
}

/**
 * Score solver responses to (entry, type) cases: reading, then execution where needed (error answers are names, compared here).
 * `infra`: the executor lost the check for reasons outside the answer (after its retries); it scores 0 but is not the answer's fault.
 */
async function scoreAnswers(
  cfg: StepConfig, executor: ExecutorPort, items: { type: TaskType; entry: Entry; response: string }[],
): Promise<{ formatOk: boolean; score: number; infra?: boolean }[]> {
  const checks: AnswerCheck[] = [];
  const where: number[] = [];
  const results: { formatOk: boolean; score: number; infra?: boolean }[] = items.map(({ type, entry, response }, i) => {
    const reading = readSolver(type, response, { formatCheck: cfg.reward.formatCheck });
    // An empty abduction answer is still an answer: the empty argument list, a literal input
    // (§5.2: "an empty input for a zero-parameter f … valid", as in the reference) and the only
    // right one for a zero-parameter f (§6.2: correct iff f(answer) equals the output). Scoring it
    // 0 unchecked made every such abduction task unsolvable (r̄ = 0 whatever the solver did); the
    // executor judges it as any input (an f with parameters refuses it on arity: wrong).
    if (reading.answer === undefined || (reading.answer.trim() === "" && type !== "abduction")) return { formatOk: reading.formatOk, score: 0 };
    if (type === "error") return { formatOk: reading.formatOk, score: errorCorrect(reading.answer, (entry as Triplet).output) ? 1 : 0 };
    checks.push({ task: execTask(type, entry), answer: reading.answer });
    where.push(i);
    return { formatOk: reading.formatOk, score: 0 };
  });
  if (checks.length > 0) {
    const verdicts = await collectIndexed(executor.checkAnswers(checks, { inductionMode: cfg.reward.inductionMode }), checks.length, "answer verdict from the executor");
    verdicts.forEach((v, j) => {
      results[where[j]].score = v.score;
      if (v.reason === "infrastructure") results[where[j]].infra = true;
    });
  }
  return results;
}

/** Fails before the first step on settings a step would only trip over later: unknown extra reward terms. */
export function checkStepConfig(cfg: StepConfig, rewards: RewardRegistry = createRewardRegistry()): void {
  for (const name of Object.keys(cfg.reward.extra.terms)) {
    if (!rewards.has(name)) throw new Error(`reward.extra.terms.${name}: no reward term of that name is registered; known: ${[...rewards.keys()].join(", ")}`);
  }
}

const anyExtraTerm = (cfg: StepConfig) => Object.values(cfg.reward.extra.terms).some((t) => t.enabled);

/** Runs step `step` (1-based). `carry` is the previous step's result carry (seeds' step: empty). */
export async function runStep(step: number, cfg: StepConfig, ports: StepPorts, carry: StepCarry = { fresh: {} }): Promise<StepResult> {
  const c = await collectStep(step, cfg, ports, carry);
  const train = c.batch.length ? await ports.learner.trainStep(c.batch) : null;
  return finishStep(c, train);
}

/** A step up to its update: the metrics without the training statistics, and the batch to train. */
export interface CollectedStep {
  result: Omit<StepResult, "train">;
  batch: TrainSequence[];
  /** performance.now() when the reward phase began (the `train` lap runs from there to the end of the update). */
  trainPhaseStart: number;
  /** performance.now() when the step began. */
  start: number;
}

/** The step's result once its update is done: the `train` lap and the total include the update. */
export function finishStep(c: CollectedStep, train: TrainStats | null, end = performance.now()): StepResult {
  const seconds = { ...c.result.seconds, train: (end - c.trainPhaseStart) / 1000, total: (end - c.start) / 1000 };
  const trained = train?.tokens ?? 0;
  return { ...c.result, train, seconds, tokens: { ...c.result.tokens, trained, trainedPerSecond: seconds.train > 0 ? trained / seconds.train : 0 } };
}

/**
 * Everything of step `step` before the update: propose, validate, solve, check, rewards,
 * advantages, the batch. With `selfplay.offPolicy` > 0 each sequence carries the log-probs its
 * generating (behaviour) policy gave its tokens, so the learner's ratio corrects for the lag.
 */
export async function collectStep(step: number, cfg: StepConfig, ports: Omit<StepPorts, "learner">, carry: StepCarry = { fresh: {} }): Promise<CollectedStep> {
  const rewards = ports.rewards ?? createRewardRegistry();
  checkStepConfig(cfg, rewards);
  const sp = cfg.selfplay;
  const B = sp.batchSize;
  const seed = (purpose: string) => nextU32(deriveRng(cfg.trainer.seed, step, purpose));
  const t0 = performance.now();
  const seconds: Record<string, number> = {};
  const lap = (name: string, since: number) => (seconds[name] = (performance.now() - since) / 1000);
  const types = sp.taskTypes;
  const proposerOpts = proposerOptions(cfg);
  const solverOpts = { variant: cfg.prompt.variant, chatTemplate: cfg.prompt.chatTemplate, rejectMultipleFunctions: cfg.validation.rejectMultipleFunctions };
  const sampling = (temperature: number, purpose: string) => ({ maxNewTokens: cfg.data.maxResponseTokens, temperature, topP: sp.topP, seed: seed(purpose) });
  // Generation's share of the step, counted where it happens: tokens out and time inside generate.
  const gen = { tokens: 0, ms: 0 };
  const generated = async <S extends { tokens: number[] }>(run: () => Promise<S[]>): Promise<S[]> => {
    const since = performance.now();
    const out = await run();
    gen.ms += performance.now() - since;
    for (const x of out) gen.tokens += x.tokens.length;
    return out;
  };

  // 1. Propose: B prompts per type (K references for deduction/abduction, one program for induction).
  // During a solver-only warm-up (`pretrainPredSteps`) nothing is proposed: steps 2–4 see no proposals,
  // the solver draws its B tasks a type from the buffers, and only the solve groups train.
  let t = performance.now();
  const proposals: ProposalPrompt[] = [];
  const solverOnly = step <= (sp.pretrainPredSteps ?? 0);
  for (const type of solverOnly ? [] : types) {
    if (type === "induction") {
      const programs = await ports.buffer.drawInductionPrograms(B, seed("induction-programs"));
      for (const program of programs) proposals.push({ type, program, prompt: proposerPrompt({ type, program: program.program }, proposerOpts) });
    } else {
      const refSets = await ports.buffer.drawReferences(type, B, sp.references, seed(`${type}-references`));
      const composites = type === "error" ? [] : await drawComposites(cfg, ports.buffer, type, B, seed(`${type}-composites`));
      refSets.forEach((refs, k) => {
        const c = composites[k];
        proposals.push({ type, references: refs, ...(c ? { composites: c } : {}), prompt: proposerPrompt({ type, references: refs, composites: c?.programs }, proposerOpts) });
      });
    }
  }
  await redrawLongProposerPrompts(step, cfg, ports, proposals, proposerOpts, seed);
  const proposed = proposals.length ? await generated(() => collectIndexed(ports.rollout.generate(proposals.map((p) => p.prompt), sampling(sp.temperature, "propose")), proposals.length, "generation from the rollout engine")) : [];
  lap("propose", t);

  // 2. Validate: parse, then run every parsed proposal in the executor.
  t = performance.now();
  const programOpts = { rejectMultipleFunctions: cfg.validation.rejectMultipleFunctions, entryFunction: cfg.validation.entryFunction, rejectTestCode: cfg.validation.rejectTestCodeInProgram };
  const read = proposals.map((p, i) => {
    const text = proposed[i].text;
    if (p.type === "induction") {
      const r = readInductionProposer(text, { nInputs: sp.inductionInputs, allowDuplicateInputs: cfg.validation.allowDuplicateInputs }, { formatCheck: cfg.reward.formatCheck });
      return { formatOk: r.formatOk, parsed: r.proposal.ok ? { kind: "induction" as const, inputs: r.proposal.inputs, message: r.proposal.message } : undefined, reason: r.proposal.ok ? "" : r.proposal.reason };
    }
    const r = readTripletProposer(text, programOpts, { formatCheck: cfg.reward.formatCheck });
    if (!r.proposal.ok) return { formatOk: r.formatOk, parsed: undefined, reason: r.proposal.reason };
    // An error task that raises on purpose is trivial: its keywords are banned (validation.bannedErrorKeywords).
    if (p.type === "error" && bannedErrorKeyword(r.proposal.program, cfg.validation.bannedErrorKeywords)) return { formatOk: r.formatOk, parsed: undefined, reason: "banned error keyword" };
    const c = p.composites;
    const problem = c && compositeProblem(r.proposal.program, c.programs.length);
    if (problem) return { formatOk: r.formatOk, parsed: undefined, reason: problem };
    // With composites (§12) the task is the g_i and the proposal together: that is what runs, is stored and is shown to the solver.
    const program = c ? withComposites(c.programs, r.proposal.program) : r.proposal.program;
    const imports = c ? [...new Set([...c.imports, ...r.proposal.imports])] : r.proposal.imports;
    return { formatOk: r.formatOk, parsed: { kind: "triplet" as const, program, input: r.proposal.input, imports, written: r.proposal.program }, reason: "" };
  });
  const checks: ProposalCheck[] = [];
  const checkOf: number[] = [];
  read.forEach((r, i) => {
    if (!r.parsed) return;
    const p = proposals[i];
    if (r.parsed.kind === "induction") checks.push({ type: "induction", program: p.program!.program, inputs: r.parsed.inputs });
    else checks.push({ type: p.type === "abduction" ? "abduction" : "deduction", program: r.parsed.program, input: r.parsed.input });
    checkOf.push(i);
    // An error proposal runs as a deduction check, twice as separate tasks (the executor stops at the first raising
    // call, so only a second run shows whether it raises the same way); the verdicts become the gold exception name below.
    if (p.type === "error") { checks.push(checks[checks.length - 1]); checkOf.push(i); }
  });
  const verdicts = checks.length ? await collectIndexed(ports.executor.validateProposals(checks), checks.length, "proposal verdict from the executor") : [];
  const reasons: string[] = read.map((r) => (r.parsed ? "" : r.reason));
  const candidates = new Map<number, Entry>(); // proposal index → entry it would add
  verdicts.forEach((v, j) => {
    const i = checkOf[j];
    const parsed = read[i].parsed!;
    if (proposals[i].type === "error" && parsed.kind === "triplet") {
      if (checkOf[j + 1] === i) return; // the first of its two runs: decided with the second, the next verdict
      const g = errorGoldOfRuns([verdicts[j - 1], v]);
      reasons[i] = g.ok ? "valid" : g.reason;
      if (g.ok) candidates.set(i, { program: parsed.program, input: parsed.input, output: g.gold, imports: parsed.imports, step });
      return;
    }
    reasons[i] = v.reason;
    if (!v.ok || !v.outputs) return;
    if (parsed.kind === "induction") {
      const program = proposals[i].program!;
      candidates.set(i, { program: program.program, inputs: parsed.inputs, outputs: v.outputs, message: parsed.message, imports: program.imports, step });
    } else {
      candidates.set(i, { program: parsed.program, input: parsed.input, output: v.outputs[0], imports: parsed.imports, step });
    }
  });
  lap("validate", t);

  // 3. Learnability: n solver samples per valid proposal (not trained on) → r̄ → proposer reward.
  t = performance.now();
  const candIdx = [...candidates.keys()];
  const candPrompts = candIdx.map((i) => solverPrompt(solverCase(proposals[i].type, candidates.get(i)!).task, solverOpts));
  // A learnability prompt over `prompt.maxTokens` gives r̄ = 0 (spec §4.3): nothing is generated for it.
  const candLengths = candIdx.length ? await ports.rollout.countTokens(candPrompts) : [];
  const fits = candIdx.map((_, c) => !(candLengths[c] > cfg.prompt.maxTokens));
  const sampled = candIdx.filter((_, c) => fits[c]);
  const lPrompts: Prompt[] = [];
  const lItems: { type: TaskType; entry: Entry }[] = [];
  candIdx.forEach((i, c) => {
    if (!fits[c]) return;
    for (let s = 0; s < sp.nSamples; s++) { lPrompts.push(candPrompts[c]); lItems.push({ type: proposals[i].type, entry: candidates.get(i)! }); }
  });
  const lSamples = lPrompts.length ? await generated(() => collectIndexed(ports.rollout.generate(lPrompts, sampling(sp.learnabilityTemperature, "learnability")), lPrompts.length, "generation from the rollout engine")) : [];
  const lScores = await scoreAnswers(cfg, ports.executor, lItems.map((x, k) => ({ ...x, response: lSamples[k].text })));
  const rbar = new Map<number, number>(candIdx.map((i) => [i, solveRate([], true)]));
  sampled.forEach((i, c) => {
    const slice = lSamples.slice(c * sp.nSamples, (c + 1) * sp.nSamples);
    const overLimit = slice.some((s) => s.promptTooLong);
    // A sample whose check failed for infrastructure reasons is excluded from r̄ (spec §6.1).
    rbar.set(i, solveRate(lScores.slice(c * sp.nSamples, (c + 1) * sp.nSamples).map((s) => (s.infra ? null : s.score)), overLimit));
  });
  // The extra rewards compare against the buffers as they were before this step's admissions.
  const counters = anyExtraTerm(cfg) ? new Map(await Promise.all(types.map(async (type) => [type, await ports.buffer.valueCounters(type)] as const))) : undefined;
  lap("learnability", t);

  // 4. Admit: valid proposals that pass the admission filter enter their buffer (dedupe + cap inside).
  t = performance.now();
  const fresh: Partial<Record<TaskType, Entry[]>> = {};
  for (const type of types) {
    const entries = candIdx.filter((i) => proposals[i].type === type && admits(cfg.reward.validProgramFilter, rbar.get(i)!)).map((i) => candidates.get(i)!);
    fresh[type] = await ports.buffer.admit(type, entries, step);
  }
  lap("admit", t);

  // 5. Solve: B tasks per type (new ones first, per `selfplay.solverMix`), one response each.
  t = performance.now();
  const solveFrom = sp.solveFrom === "same-step" ? fresh : carry.fresh;
  const solveItems: SolveItem[] = [];
  for (const type of types) {
    const tasks = await ports.buffer.solverTasks(type, solveFrom[type] ?? [], B, seed(`${type}-solve`));
    for (const entry of tasks) solveItems.push({ type, entry, prompt: solverPrompt(solverCase(type, entry).task, solverOpts) });
  }
  await redrawLongSolverTasks(step, cfg, ports, solveItems, solverOpts, seed);
  const solved = await generated(() => collectIndexed(ports.rollout.generate(solveItems.map((s) => s.prompt), sampling(sp.temperature, "solve")), solveItems.length, "generation from the rollout engine"));
  const solveScores = await scoreAnswers(cfg, ports.executor, solveItems.map((s, k) => ({ type: s.type, entry: s.entry, response: solved[k].text })));
  lap("solve", t);

  // 6. Rewards → TRR++ advantages over the six groups → one optimiser step.
  t = performance.now();
  const trained: Trained[] = [];
  proposals.forEach((p, i) => {
    const valid = candidates.has(i);
    const r = valid ? learnability(rbar.get(i)!, cfg.reward.learnability) : 0;
    const extras = valid && counters ? (rProp: number) => {
      const e = candidates.get(i)!, c = counters.get(p.type)!;
      const ctx = {
        type: p.type, program: e.program, inputs: "inputs" in e ? e.inputs : [e.input], outputs: "outputs" in e ? e.outputs : [e.output],
        referencePrograms: p.references?.map((x) => x.program) ?? [], inputCounters: c.inputs, outputCounters: c.outputs,
      };
      return combineExtras(rProp, extraTerms(rewards, cfg.reward.extra.terms, ctx).map((x) => x.c), cfg.reward.extra.combine);
    } : undefined;
    const reward = proposerReward({ valid, formatOk: read[i].formatOk, learnability: r, combineExtras: extras }, { trivialProposal: cfg.reward.trivialProposal });
    trained.push({ group: groupKey("propose", p.type), reward, sample: proposed[i], formatOk: read[i].formatOk });
  });
  solveItems.forEach((s, k) => {
    const { formatOk, score, infra } = solveScores[k];
    trained.push({ group: groupKey("solve", s.type), reward: solverReward(formatOk, score), sample: solved[k], formatOk, correct: formatOk && score >= 1, ...(infra ? { infra } : {}) });
  });
  // The n learnability samples per valid proposal are on-policy solver responses already generated and scored
  // (at learnabilityTemperature): training on them multiplies the solver's data per step without generating more.
  if (sp.trainLearnabilitySamples) {
    lItems.forEach((x, k) => {
      const { formatOk, score, infra } = lScores[k];
      trained.push({ group: groupKey("solve", x.type), reward: solverReward(formatOk, score), sample: lSamples[k], formatOk, correct: formatOk && score >= 1, fromLearnability: true, ...(infra ? { infra } : {}) });
    });
  }
  // An answer whose check the executor lost (infrastructure, after its retries) has no verdict: its
  // score 0 is not the answer's fault, so it is not trained (as §6.1 leaves such samples out of r̄);
  // it still counts in the metrics (executorFailures, and its group's reward as scored).
  const forUpdate = trained.filter((x) => (sp.trainPropose || !x.group.startsWith("propose/")) && x.sample.tokens.length > 0 && !x.infra);
  const { advantages } = trrAdvantages(forUpdate.map((x): Scored => ({ group: x.group, reward: x.reward, length: x.sample.tokens.length })), cfg.trainer.advantageStats);
  const batch: TrainSequence[] = forUpdate.map((x, k) => ({
    prompt: x.sample.promptTokens, response: x.sample.tokens, advantages: broadcastAdvantage(advantages[k], x.sample.tokens.length),
    ...(sp.offPolicy ? { oldLogprobs: behaviourLogprobs(x.sample) } : {}),
  }));
  if (ports.reference && batch.length) {
    const ref = await ports.reference.score(batch.map((b) => b.prompt), batch.map((b) => b.response));
    batch.forEach((b, k) => (b.refLogprobs = ref[k]));
  }
  const trainPhaseStart = t;
  const updateOf = (group: GroupKey) => forUpdate.flatMap((x, k) => (x.group === group ? [{ reward: x.reward, advantage: advantages[k] }] : []));

  // 7. Metrics per group (§8).
  const groups: StepResult["groups"] = {};
  for (const type of types) {
    const pk = groupKey("propose", type);
    const pItems = trained.filter((x) => x.group === pk);
    const pIdx = proposals.map((p, i) => i).filter((i) => proposals[i].type === type);
    const valid = pIdx.filter((i) => candidates.has(i));
    const written = valid.map((i) => read[i].parsed).flatMap((p) => (p?.kind === "triplet" ? [programLines(p.written)] : []));
    const lines = summarize(written);
    groups[pk] = {
      ...groupMetrics(pItems, updateOf(pk)),
      validRate: pIdx.length ? valid.length / pIdx.length : 0,
      invalidReasons: countReasons(pIdx.filter((i) => !candidates.has(i)).map((i) => reasons[i] || "unknown")),
      learnabilityMean: valid.length ? valid.reduce((a, i) => a + learnability(rbar.get(i)!, cfg.reward.learnability), 0) / valid.length : 0,
      solveRateMean: valid.length ? valid.reduce((a, i) => a + rbar.get(i)!, 0) / valid.length : 0,
      newEntries: fresh[type]?.length ?? 0,
      ...(type === "induction" ? {} : { programLines: { mean: lines.mean, max: lines.max } }),
      learnabilityExecutorFailures: lItems.filter((x, k) => x.type === type && lScores[k].infra).length,
    };
    const sk = groupKey("solve", type);
    // The solve batch alone (trained learnability samples are in `advantage` / `return` only, see GroupMetrics).
    const sItems = trained.filter((x) => x.group === sk && !x.fromLearnability);
    groups[sk] = {
      ...groupMetrics(sItems, updateOf(sk)),
      accuracy: sItems.length ? sItems.filter((x) => x.correct).length / sItems.length : 0,
      executorFailures: sItems.filter((x) => x.infra).length,
    };
  }
  const samples = proposals.slice(0, 12).map((p, i) => ({
    type: p.type,
    program: (read[i].parsed && read[i].parsed.kind === "triplet" ? read[i].parsed.program : p.program?.program) ?? proposed[i].text.slice(0, 400),
    verdict: candidates.has(i) ? "valid" : reasons[i] || "unparsed",
    solveRate: rbar.get(i),
  }));
  const tokens: StepTokens = { generated: gen.tokens, generateSeconds: gen.ms / 1000, generatedPerSecond: gen.ms > 0 ? gen.tokens / (gen.ms / 1000) : 0, trained: 0, trainedPerSecond: 0 };
  const result = { step, groups, bufferSizes: await ports.buffer.sizes(), bufferValues: await ports.buffer.valueStats(), seconds, tokens, samples, carry: { fresh } };
  return { result, batch, trainPhaseStart, start: t0 };
}

/** The behaviour policy's log-probs of a sample's tokens (temperature 1, as π_old in §7.2), as the rollout engine reported them. */
function behaviourLogprobs(s: RolloutSample): Float32Array {
  if (!s.logprobs || s.logprobs.length !== s.tokens.length) {
    throw new Error(`selfplay.offPolicy needs the rollout engine's per-token log-probs of every sample (got ${s.logprobs?.length ?? "none"} for ${s.tokens.length} tokens): use actors/rollout-engine.ts, or set selfplay.offPolicy=0`);
  }
  return Float32Array.from(s.logprobs);
}
