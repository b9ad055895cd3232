/**
 * The tiny model's held-out report (`azr eval --suite tiny`, issue: the tiny base model): accuracy
 * per task type with 95% bootstrap intervals beside the trivial baselines (constant answer, copy
 * the input), and the share of the model's proposals that are valid programs.
 *
 * Proposals are made exactly as self-play makes them: the `tiny` recipe's proposer prompts
 * (compact variant, K references, N induction inputs), sampled at the recipe's temperature, read
 * by the same parsers and validated by the executor with the recipe's rules. References and
 * induction programs come from the held-out programs, which neither pretraining nor self-play saw.
 *
 * Covers: the proposal probe, the per-type table. Not: solving the held-out tasks (runner.ts does
 * that with the shared suite machinery) or the baselines' scoring (make-corpus computes them).
 */
import type { SamplesReport } from "./tiny-samples.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { accuracyWithInterval, pairedDifference, type Accuracy, type PairedDifference } from "../../azr/corpus/heldout.ts";
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import { Rng } from "../../azr/corpus/rng.ts";
import { proposerOptions, proposerPrompt, type Prompt, type PromptVariant, type ReferenceTask } from "../../azr/prompts.ts";
import { readInductionProposer, readTripletProposer } from "../../azr/responses.ts";
import type { CodeExecutor, ProposalCheck } from "../code-executor/index.ts";
import type { ProblemRecord } from "./runner.ts";

/**
 * The recipe settings the probe reads. Declared here rather than imported so actors/ does not
 * depend on recipes/ (design.md layout); a full recipe satisfies it as it is.
 */
export interface ProbeRecipe {
  prompt: { variant: PromptVariant; chatTemplate: boolean };
  validation: { bannedWords: string[]; rejectMultipleFunctions: boolean; entryFunction: "first" | "last"; allowDuplicateInputs: boolean };
  executor: { timeoutSeconds: number };
  selfplay: { inductionInputs: number; references: number };
  reward: { formatCheck: boolean };
}

export const TINY_TYPES = ["deduction", "abduction", "induction"] as const;
export type TinyType = (typeof TINY_TYPES)[number];

/** make-corpus's baselines (stats.json → heldout-baselines.json beside the model). */
export type TinyBaselines = Record<"constant" | "copy", Record<TinyType, Accuracy>>;

export interface ProposalTally {
  total: number;
  /** The answer block was found (the format reward's condition). */
  formatOk: number;
  /** Parsed and accepted by the executor: runs, deterministic, allowed. */
  valid: number;
  /** Why the invalid ones failed, most common first. */
  reasons: [string, number][];
}

/** The files `make base-model` puts beside the tiny model for this report. */
export function tinyFiles(modelDir: string): { tasks: string; programs: string; baselines: string } {
  return { tasks: join(modelDir, "heldout.jsonl"), programs: join(modelDir, "heldout-programs.jsonl"), baselines: join(modelDir, "heldout-baselines.json") };
}

export function loadHeldOutPrograms(path: string): ExecutedProgram[] {
  if (!existsSync(path)) throw new Error(`no held-out programs at ${path}: make-corpus writes heldout-programs.jsonl; make base-model copies it beside the model`);
  return readFileSync(path, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as ExecutedProgram);
}

export function loadBaselines(path: string): TinyBaselines | undefined {
  if (!existsSync(path)) return undefined;
  const raw = JSON.parse(readFileSync(path, "utf8")) as { baselines?: TinyBaselines } & Partial<TinyBaselines>;
  return raw.baselines ?? (raw.constant && raw.copy ? (raw as TinyBaselines) : undefined);
}

interface ProbeItem {
  type: TinyType;
  prompt: Prompt;
  /** Induction: the program the proposer was shown. */
  program?: string;
}

/** `perType` proposer prompts per task type, references drawn (seeded) from the held-out programs. */
export function proposalPrompts(programs: readonly ExecutedProgram[], recipe: ProbeRecipe, perType: number, seed: number): ProbeItem[] {
  if (programs.length === 0) throw new Error("no held-out programs to draw references from");
  const rng = Rng.derive(seed, "tiny-proposal-probe");
  const opts = proposerOptions(recipe);
  const pick = () => programs[rng.int(0, programs.length - 1)];
  const reference = (p: ExecutedProgram): ReferenceTask => ({ program: p.source, input: p.pairs[0].input, output: p.pairs[0].output });
  const items: ProbeItem[] = [];
  for (const type of TINY_TYPES) {
    for (let i = 0; i < perType; i++) {
      if (type === "induction") {
        const p = pick();
        items.push({ type, program: p.source, prompt: proposerPrompt({ type, program: p.source }, opts) });
      } else {
        const refs = Array.from({ length: recipe.selfplay.references }, () => reference(pick()));
        items.push({ type, prompt: proposerPrompt({ type, references: refs }, opts) });
      }
    }
  }
  return items;
}

export interface ProbeGenerator {
  /** Sampled generations (self-play's proposer sampling), in any order, with their prompt index. */
  generate(prompts: Prompt[]): AsyncIterable<{ index: number; text: string }>;
}

/** Generate, parse and validate every probe proposal; tallies per task type. */
export async function probeProposals(items: readonly ProbeItem[], gen: ProbeGenerator, executor: CodeExecutor, recipe: ProbeRecipe): Promise<Record<TinyType, ProposalTally>> {
  const texts: string[] = new Array(items.length);
  for await (const g of gen.generate(items.map((i) => i.prompt))) texts[g.index] = g.text;
  const programOpts = { rejectMultipleFunctions: recipe.validation.rejectMultipleFunctions, entryFunction: recipe.validation.entryFunction };
  const read = { formatCheck: recipe.reward.formatCheck };
  const outcome: { formatOk: boolean; reason: string }[] = [];
  const checks: ProposalCheck[] = [];
  const checkOf: number[] = [];
  items.forEach((it, i) => {
    const text = texts[i] ?? "";
    if (it.type === "induction") {
      const r = readInductionProposer(text, { nInputs: recipe.selfplay.inductionInputs, allowDuplicateInputs: recipe.validation.allowDuplicateInputs }, read);
      outcome.push({ formatOk: r.formatOk, reason: r.proposal.ok ? "" : r.proposal.reason });
      if (r.proposal.ok) { checks.push({ type: "induction", program: it.program!, inputs: r.proposal.inputs }); checkOf.push(i); }
    } else {
      const r = readTripletProposer(text, programOpts, read);
      outcome.push({ formatOk: r.formatOk, reason: r.proposal.ok ? "" : r.proposal.reason });
      if (r.proposal.ok) { checks.push({ type: it.type, program: r.proposal.program, input: r.proposal.input }); checkOf.push(i); }
    }
  });
  const valid = new Set<number>();
  if (checks.length) {
    for await (const v of executor.validateProposals(checks)) {
      const i = checkOf[v.index];
      if (v.ok) valid.add(i);
      else outcome[i].reason = v.reason;
    }
  }
  const tallies = {} as Record<TinyType, ProposalTally>;
  for (const type of TINY_TYPES) {
    const idx = items.map((it, i) => (it.type === type ? i : -1)).filter((i) => i >= 0);
    const reasons = new Map<string, number>();
    for (const i of idx) if (!valid.has(i)) reasons.set(outcome[i].reason || "invalid", (reasons.get(outcome[i].reason || "invalid") ?? 0) + 1);
    tallies[type] = {
      total: idx.length,
      formatOk: idx.filter((i) => outcome[i].formatOk).length,
      valid: idx.filter((i) => valid.has(i)).length,
      reasons: [...reasons].sort((a, b) => b[1] - a[1]),
    };
  }
  return tallies;
}

/** The held-out program a record's task was made from (its id is `<programId>/<type>/<row>`, see file-bench.ts). */
export function recordProgramId(r: Pick<ProblemRecord, "id">): string {
  return r.id.split("/").slice(0, -2).join("/");
}

/** The task type of a held-out record (its id is `<programId>/<type>/<row>`, see file-bench.ts). */
export function recordType(r: Pick<ProblemRecord, "id">): TinyType {
  const type = r.id.split("/").at(-2);
  if (type !== "deduction" && type !== "abduction" && type !== "induction") throw new Error(`held-out record id ${r.id} names no task type`);
  return type;
}

/**
 * Records in id order: the bootstrap draws by position with a fixed seed, so the order the records
 * finished in (which varies between runs) would move the intervals of identical answers.
 */
const byId = <T extends Pick<ProblemRecord, "id">>(records: readonly T[]): T[] => [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

export function accuracyByType(records: readonly ProblemRecord[]): Record<TinyType, Accuracy> {
  const out = {} as Record<TinyType, Accuracy>;
  const sorted = byId(records);
  for (const type of TINY_TYPES) out[type] = accuracyWithInterval(sorted.filter((r) => recordType(r) === type).map((r) => r.correct));
  return out;
}

/** Per task type: the paired change from `before` to `after`, over the tasks both scored (matched by id). */
export function compareByType(before: readonly ProblemRecord[], after: readonly ProblemRecord[]): Record<TinyType, PairedDifference> {
  const was = new Map(before.map((r) => [r.id, r.correct]));
  const out = {} as Record<TinyType, PairedDifference>;
  for (const type of TINY_TYPES) {
    const both = byId(after).filter((r) => recordType(r) === type && was.has(r.id));
    out[type] = pairedDifference(both.map((r) => was.get(r.id)!), both.map((r) => r.correct));
  }
  return out;
}

/** The paired comparison as a table: points gained, its 95% interval, tasks gained and lost. */
export function formatComparison(against: string, c: Record<TinyType, PairedDifference>): string {
  const sign = (x: number) => `${x >= 0 ? "+" : ""}${pct(x)}`;
  const lines = [`change against ${against}, points [95% paired bootstrap interval], same tasks:`, ""];
  for (const t of TINY_TYPES) {
    const d = c[t];
    lines.push(`  ${t.padEnd(10)} n ${String(d.total).padStart(4)}  ${sign(d.difference).padStart(6)} [${sign(d.low)}, ${sign(d.high)}]  gained ${d.gained}, lost ${d.lost}${d.low > 0 ? "  (better: the interval excludes 0)" : d.high < 0 ? "  (worse: the interval excludes 0)" : ""}`);
  }
  return lines.join("\n");
}

export interface TinyReport {
  model: string;
  accuracy: Record<TinyType, Accuracy>;
  baselines?: TinyBaselines;
  proposals?: Record<TinyType, ProposalTally>;
  /** --samples k (tiny-samples.ts, printed after this report by formatSamples). */
  samples?: SamplesReport;
  /** --compare: the paired change against an earlier run's records. */
  comparison?: {
    against: string;
    byType: Record<TinyType, PairedDifference>;
    /** This run's tasks the earlier records hold, of this run's: fewer is an interrupted or --limit earlier run. */
    coverage?: { earlier: number; run: number };
  };
}

const pct = (x: number) => (100 * x).toFixed(1);
const cell = (a: Accuracy) => (a.total ? `${pct(a.accuracy)} [${pct(a.low)}, ${pct(a.high)}]` : "—");

/** Accuracy per type beside the baselines, then the valid-proposal rates. */
export function formatTinyReport(r: TinyReport): string {
  const lines = [`held-out accuracy, % [95% bootstrap interval]  (${r.model})`, ""];
  const head = ["task type", "n", "model", "constant answer", "copy the input", "model ÷ best baseline"];
  const rows = TINY_TYPES.map((t) => {
    const a = r.accuracy[t];
    const best = r.baselines ? Math.max(r.baselines.constant[t].accuracy, r.baselines.copy[t].accuracy) : NaN;
    return [t, String(a.total), cell(a), r.baselines ? cell(r.baselines.constant[t]) : "—", r.baselines ? cell(r.baselines.copy[t]) : "—", best > 0 ? (a.accuracy / best).toFixed(2) : "—"];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  for (const row of [head, ...rows]) lines.push(row.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  "));
  if (!r.baselines) lines.push("(no heldout-baselines.json beside the model: baselines not shown)");
  if (r.proposals) {
    lines.push("", "proposals (tiny recipe prompts, self-play sampling), valid = parsed and accepted by the executor:");
    let valid = 0;
    let total = 0;
    for (const t of TINY_TYPES) {
      const p = r.proposals[t];
      valid += p.valid;
      total += p.total;
      const why = p.reasons.slice(0, 3).map(([k, n]) => `${k} ${n}`).join(", ");
      lines.push(`  ${t.padEnd(10)} valid ${p.valid}/${p.total} (${pct(p.valid / Math.max(1, p.total))}%)  format ok ${p.formatOk}/${p.total}${why ? `  failures: ${why}` : ""}`);
    }
    lines.push(`  all        valid ${valid}/${total} (${pct(valid / Math.max(1, total))}%)`);
  }
  if (r.comparison) {
    lines.push("", formatComparison(r.comparison.against, r.comparison.byType));
    const c = r.comparison.coverage;
    if (c && c.earlier < c.run) lines.push(`  (the earlier records cover ${c.earlier} of this run's ${c.run} tasks — an interrupted or --limit run: the change is over those ${c.earlier} only)`);
  }
  return lines.join("\n");
}
