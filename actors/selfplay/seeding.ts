/**
 * Model-made seeds (azr-spec §4.2; the reference's seeding scripts): the base model proposes the
 * initial buffers before self-play, with no weight update. Used by `azr seed` (writes the two
 * seed JSONL files) and by the driver's top-up when a seed set is short (`seed.topUp`).
 *
 * Triplets: starting from a pool (the identity triplet, or the seeds that survived
 * re-validation), each round builds B proposer prompts — deduction and abduction alike, both
 * feeding the one pool — with K references drawn from the pool, generates at
 * `seed.temperature`, parses the **whole response** (no `<answer>` extraction, no format
 * check), strips comments, docstrings and module-level statements other than imports,
 * functions and classes from the program, validates it in the executor and adds the valid ones
 * with exact de-duplication, until the target count. Induction: the same over induction
 * proposer prompts, each showing one program of the triplet pool.
 *
 * Covers: the loops and their RNG streams (derived from `trainer.seed`, so a rerun makes the
 * same seeds). Not: the rules (azr/), execution (executor), writing files (callers).
 *
 * Departures from the reference: the reference loops until it has enough seeds, forever if the
 * model never proposes a valid one; here `seed.maxRounds` bounds the rounds of each phase and
 * the caller gets what was made (and logs the shortfall).
 */
import {
  admitEntries, deriveRng, nextInt, nextU32, proposerPrompt, readInductionProposer, readTripletProposer, sampleWithoutReplacement, stripForSeeding,
  type InductionEntry, type Prompt, type Triplet,
} from "../../azr/index.ts";
import type { ProposalCheck } from "../code-executor/index.ts";
import type { ExecutorPort, RolloutPort } from "./ports.ts";

/** The recipe fields seeding reads (a Recipe satisfies it structurally). */
export interface SeedingConfig {
  selfplay: { batchSize: number; references: number; inductionInputs: number; topP: number };
  prompt: { variant: "full" | "compact"; chatTemplate: boolean };
  data: { maxResponseTokens: number };
  validation: { bannedWords: string[]; rejectMultipleFunctions: boolean; entryFunction: "first" | "last"; allowDuplicateInputs: boolean; rejectTestCodeInProgram?: boolean };
  executor: { timeoutSeconds: number };
  seed: { temperature: number; maxRounds: number };
  trainer: { seed: number };
}

export interface SeedingPorts {
  rollout: RolloutPort;
  executor: ExecutorPort;
}

export interface MadeSeeds<T> {
  /** The pool: the starting entries, then the made ones in the order they were admitted. */
  entries: T[];
  /** How many of `entries` the model made. */
  made: number;
  rounds: number;
  /** Invalid proposals by reason, over all rounds. */
  rejected: Record<string, number>;
  /** The program as the model wrote it, before seeding stripped it, per made entry (the seed file's `original_snippet`). */
  originals: Map<T, string>;
}

type Read<T> = { check: ProposalCheck; entry(outputs: string[]): T; original?: string } | { reason: string };

const DEDUPE = { dedupe: "exact", maxEntries: Number.MAX_SAFE_INTEGER, capPolicy: "keep-first" } as const;

function proposerOptions(cfg: SeedingConfig) {
  return {
    variant: cfg.prompt.variant, chatTemplate: cfg.prompt.chatTemplate, bannedWords: cfg.validation.bannedWords,
    rejectMultipleFunctions: cfg.validation.rejectMultipleFunctions, timeoutSeconds: cfg.executor.timeoutSeconds, nInputs: cfg.selfplay.inductionInputs,
  };
}

/**
 * Rounds of B proposals until the pool holds `target` entries or `seed.maxRounds` rounds ran.
 * `propose(round)` builds the round's prompts and, per prompt, turns a response into an
 * executor check and the entry a valid verdict makes (or a parse failure reason).
 */
async function seedRounds<T extends Triplet | InductionEntry>(
  cfg: SeedingConfig, ports: SeedingPorts, start: readonly T[], target: number, phase: string,
  propose: (round: number, pool: readonly T[]) => { prompt: Prompt; read(response: string): Read<T> }[],
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<MadeSeeds<T>> {
  let pool = [...start];
  const rejected: Record<string, number> = {};
  const originals = new Map<T, string>();
  const reject = (reason: string) => (rejected[reason] = (rejected[reason] ?? 0) + 1);
  let rounds = 0;
  while (pool.length < target && rounds < cfg.seed.maxRounds) {
    // A stop (Ctrl-C) before the first step keeps nothing of the seeding: stop at the round's end, not after every round.
    signal?.throwIfAborted();
    rounds++;
    const items = propose(rounds, pool);
    const sampling = { maxNewTokens: cfg.data.maxResponseTokens, temperature: cfg.seed.temperature, topP: cfg.selfplay.topP, seed: nextU32(deriveRng(cfg.trainer.seed, "seeding", phase, rounds, "generate")) };
    const texts: string[] = new Array(items.length).fill("");
    for await (const s of ports.rollout.generate(items.map((x) => x.prompt), sampling)) texts[s.index] = s.text;
    const parsed = items.map((x, i) => x.read(texts[i]));
    const toCheck = parsed.flatMap((p) => ("check" in p ? [p] : (reject(p.reason), [])));
    const valid: T[] = new Array(toCheck.length);
    if (toCheck.length) {
      for await (const v of ports.executor.validateProposals(toCheck.map((p) => p.check))) {
        if (!v.ok || !v.outputs) { reject(v.reason); continue; }
        const p = toCheck[v.index];
        valid[v.index] = p.entry(v.outputs);
        if (p.original !== undefined) originals.set(valid[v.index], p.original);
      }
    }
    const r = admitEntries(pool, valid.filter(Boolean), DEDUPE);
    const room = target - pool.length;
    pool = [...pool, ...r.admitted.slice(0, room)];
    if (r.rejected.length) rejected.duplicate = (rejected.duplicate ?? 0) + r.rejected.length;
    log(`seeding ${phase}: round ${rounds}: ${toCheck.length}/${items.length} parsed, ${valid.filter(Boolean).length} valid, ${Math.min(room, r.admitted.length)} new → ${pool.length}/${target}`);
  }
  return { entries: pool, made: pool.length - start.length, rounds, rejected, originals };
}

/** Triplet seeds: deduction and abduction proposer prompts alike, over references from the pool. */
export async function makeTripletSeeds(
  cfg: SeedingConfig, ports: SeedingPorts, start: readonly Triplet[], target: number, log: (line: string) => void = () => {}, signal?: AbortSignal,
): Promise<MadeSeeds<Triplet>> {
  if (start.length === 0) throw new Error("seeding needs at least one starting triplet (the identity triplet) to show as a reference");
  const opts = proposerOptions(cfg);
  const programOpts = { rejectMultipleFunctions: cfg.validation.rejectMultipleFunctions, entryFunction: cfg.validation.entryFunction, rejectTestCode: cfg.validation.rejectTestCodeInProgram };
  return seedRounds(cfg, ports, start, target, "triplets", (round, pool) => {
    const rng = deriveRng(cfg.trainer.seed, "seeding", "triplets", round, "references");
    return Array.from({ length: cfg.selfplay.batchSize }, (_, k) => {
      const type = k % 2 === 0 ? "deduction" as const : "abduction" as const;
      const references = sampleWithoutReplacement(rng, pool, cfg.selfplay.references);
      return {
        prompt: proposerPrompt({ type, references }, opts),
        read(response: string) {
          const r = readTripletProposer(response, programOpts, { formatCheck: false, wholeResponse: true });
          if (!r.proposal.ok) return { reason: r.proposal.reason };
          let program: string;
          try { program = stripForSeeding(r.proposal.program); } catch { return { reason: "syntax error" }; }
          const { input, imports } = r.proposal;
          return {
            check: { type: "deduction" as const, program, input },
            entry: (outputs: string[]): Triplet => ({ program, input, output: outputs[0], imports, step: 0 }),
            original: r.proposal.program,
          };
        },
      };
    });
  }, log, signal);
}

/** Induction seeds: induction proposer prompts over programs drawn uniformly from the triplet seeds. */
export async function makeInductionSeeds(
  cfg: SeedingConfig, ports: SeedingPorts, programs: readonly Triplet[], start: readonly InductionEntry[], target: number, log: (line: string) => void = () => {}, signal?: AbortSignal,
): Promise<MadeSeeds<InductionEntry>> {
  if (programs.length === 0) throw new Error("induction seeding needs triplet seeds to draw its programs from");
  const opts = proposerOptions(cfg);
  const parse = { nInputs: cfg.selfplay.inductionInputs, allowDuplicateInputs: cfg.validation.allowDuplicateInputs };
  return seedRounds(cfg, ports, start, target, "induction", (round) => {
    const rng = deriveRng(cfg.trainer.seed, "seeding", "induction", round, "programs");
    return Array.from({ length: cfg.selfplay.batchSize }, () => {
      const p = programs[nextInt(rng, programs.length)];
      return {
        prompt: proposerPrompt({ type: "induction", program: p.program }, opts),
        read(response: string) {
          const r = readInductionProposer(response, parse, { formatCheck: false, wholeResponse: true });
          if (!r.proposal.ok) return { reason: r.proposal.reason };
          const { inputs, message } = r.proposal;
          return {
            check: { type: "induction" as const, program: p.program, inputs },
            entry: (outputs: string[]): InductionEntry => ({ program: p.program, inputs, outputs, message, imports: p.imports, step: 0 }),
          };
        },
      };
    });
  }, log, signal);
}
