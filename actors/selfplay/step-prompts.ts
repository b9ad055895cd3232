/**
 * The prompts of a self-play step (azr-spec §3, §4.3): drawing the composite functions a
 * proposer must call (§12, optional), the solver case of a buffer entry, and re-drawing prompts
 * over `prompt.maxTokens` (proposers get other references or another program, solvers another
 * task of the same buffer) a bounded number of times before the step fails naming the buffer.
 * Not: the phases themselves (step.ts).
 */
import {
  compositeFunctions, deriveRng, inductionSolverCase, nextInt, proposerPrompt, solverPrompt, tripletSolverCase, PromptLimitError,
  type InductionEntry, type Prompt, type SolverCase, type TaskType, type Triplet,
} from "../../azr/index.ts";
import type { Entry, StepConfig, StepPorts } from "./step.ts";
import type { BufferPort } from "./ports.ts";

/** What a solver is shown and checked against for an entry of a type's buffer. */
export function solverCase(type: TaskType, e: Entry): SolverCase {
  return type === "induction" ? inductionSolverCase(e as InductionEntry) : tripletSolverCase(type, e as Triplet);
}

/**
 * A proposer prompt: deduction / abduction / error ones keep their references (for the edit-distance reward), induction its program;
 * with composite functions on (§12), the renamed g_i a deduction / abduction proposal must call and their import lines.
 */
export type ProposalPrompt = { type: TaskType; prompt: Prompt; program?: Triplet; references?: Triplet[]; composites?: Composites };
export type Composites = { programs: string[]; imports: string[] };

/**
 * Composite functions (§12, off unless `selfplay.compositeFunctionsMax` > 0): per deduction /
 * abduction prompt, c uniform in [min, max] earlier programs of that type's buffer (drawn as
 * references are, by `selfplay.referenceSampling`, without replacement; c ≤ its size), renamed
 * g_0…g_{c−1}. The proposal's f must call each; the stored program is the g_i followed by the
 * proposal, so the solver sees and runs them too.
 */
export async function drawComposites(cfg: StepConfig, buffer: BufferPort, type: "deduction" | "abduction", count: number, seed: number): Promise<(Composites | undefined)[]> {
  const min = cfg.selfplay.compositeFunctionsMin ?? 0, max = cfg.selfplay.compositeFunctionsMax ?? 0;
  if (max <= 0) return new Array<undefined>(count).fill(undefined);
  const rng = deriveRng(seed, "c");
  const sets = await buffer.drawReferences(type, count, max, seed);
  return sets.map((set) => {
    const chosen = set.slice(0, min + nextInt(rng, max - min + 1));
    return { programs: compositeFunctions(chosen.map((t) => t.program)), imports: [...new Set(chosen.flatMap((t) => t.imports))] };
  });
}

/**
 * Prompts over `prompt.maxTokens` are re-drawn by `redraw` (the indices of one type at a time), up
 * to `prompt.maxRedraws` times, each round re-counting only the re-drawn ones; then the step fails
 * naming the buffer (spec §4.3; the reference loops forever).
 */
async function redrawLongPrompts(
  step: number, cfg: StepConfig, ports: Omit<StepPorts, "learner">, items: readonly { type: TaskType; prompt: Prompt }[],
  what: { role: "proposer" | "solver"; buffer: (type: TaskType) => string; fix: string },
  redraw: (type: TaskType, indices: number[], attempt: number) => Promise<void>,
): Promise<void> {
  let pending = items.map((_, i) => i);
  for (let attempt = 0; pending.length > 0; attempt++) {
    const lengths = await ports.rollout.countTokens(pending.map((i) => items[i].prompt));
    const over = pending.filter((_, k) => lengths[k] > cfg.prompt.maxTokens);
    if (over.length === 0) return;
    if (attempt >= cfg.prompt.maxRedraws) {
      const type = items[over[0]].type;
      throw new PromptLimitError(
        `step ${step}: ${over.length} ${type} ${what.role} prompt(s) still exceed prompt.maxTokens = ${cfg.prompt.maxTokens} after ${attempt} re-draws from the ${what.buffer(type)} buffer; ${what.fix}`,
      );
    }
    for (const type of new Set(over.map((i) => items[i].type))) await redraw(type, over.filter((i) => items[i].type === type), attempt);
    pending = over;
  }
}

/** Proposer prompts over the limit get new references (deduction/abduction) or a new program (induction). */
export function redrawLongProposerPrompts(
  step: number, cfg: StepConfig, ports: Omit<StepPorts, "learner">, proposals: ProposalPrompt[],
  opts: Parameters<typeof proposerPrompt>[1], seed: (purpose: string) => number,
): Promise<void> {
  const what = {
    role: "proposer" as const, buffer: (type: TaskType) => (type === "induction" ? "deduction+abduction" : type),
    fix: "raise prompt.maxTokens (and data.maxPromptTokens), lower selfplay.references, or lower validation.maxOutputChars",
  };
  return redrawLongPrompts(step, cfg, ports, proposals, what, async (type, idx, attempt) => {
    if (type === "induction") {
      const programs = await ports.buffer.drawInductionPrograms(idx.length, seed(`induction-programs-redraw-${attempt}`));
      idx.forEach((i, j) => (proposals[i] = { type, program: programs[j], prompt: proposerPrompt({ type, program: programs[j].program }, opts) }));
    } else {
      const sets = await ports.buffer.drawReferences(type, idx.length, cfg.selfplay.references, seed(`${type}-references-redraw-${attempt}`));
      // The composite functions stay: only the references make the prompt long enough to re-draw.
      idx.forEach((i, j) => (proposals[i] = { ...proposals[i], references: sets[j], prompt: proposerPrompt({ type, references: sets[j], composites: proposals[i].composites?.programs }, opts) }));
    }
  });
}

export type SolveItem = { type: TaskType; entry: Entry; prompt: Prompt };

/** Solver tasks over the limit are replaced by another draw from the same type's buffer. */
export function redrawLongSolverTasks(
  step: number, cfg: StepConfig, ports: Omit<StepPorts, "learner">, items: SolveItem[], opts: Parameters<typeof solverPrompt>[1], seed: (purpose: string) => number,
): Promise<void> {
  const what = { role: "solver" as const, buffer: (type: TaskType) => type, fix: "raise prompt.maxTokens (and data.maxPromptTokens), or lower validation.maxOutputChars" };
  return redrawLongPrompts(step, cfg, ports, items, what, async (type, idx, attempt) => {
    const tasks = await ports.buffer.solverTasks(type, [], idx.length, seed(`${type}-solve-redraw-${attempt}`));
    idx.forEach((i, j) => {
      const entry = tasks[j % tasks.length];
      items[i] = { type, entry, prompt: solverPrompt(solverCase(type, entry).task, opts) };
    });
  });
}
