/**
 * Rewards (azr-spec §6): the proposer's learnability reward, the solver's reward levels, the
 * format penalty, induction scoring modes, the admission filter, and the deduction check (which
 * needs no execution: both sides are literals).
 *
 * Covers: pure arithmetic on verdicts the executor produced. Not: running programs (abduction
 * and induction answers are executed by the code executor), the extra proposer terms
 * (reward-registry.ts).
 *
 * Departures from the paper (each a config switch whose other value restores the other side):
 * - `reward.trivialProposal` = −0.5 (the reference's rule, which produced the published
 *   results) where paper Eq. 6 would give 0;
 * - learnability `one-minus` is paper Eq. 4; `inverse` (1 − r̄ always) is the reference option.
 */
import { parseLiteral, pyEqual, LiteralError } from "./literal.ts";

export type LearnabilityMode = "one-minus" | "inverse";
export type InductionMode = "binary" | "accuracy" | "any";
export type AdmissionFilter = "all" | "not-always-solved" | "not-extremes";

/** The solver levels of §6.2. */
export const SOLVER_REWARD = { badFormat: -1, wrong: -0.5, correct: 1 } as const;
/** The proposer level for bad tags or an invalid proposal (§6.1). */
export const PROPOSER_INVALID_REWARD = -1;

/**
 * r̄: mean score of the learnability samples. `null` marks a sample excluded after an
 * executor infrastructure failure (retried twice already). No samples left, or a prompt over
 * the length limit → 0.
 */
export function solveRate(scores: readonly (number | null)[], overLimit = false): number {
  if (overLimit) return 0;
  const kept = scores.filter((s): s is number => s !== null);
  if (kept.length === 0) return 0;
  for (const s of kept) if (!(s >= 0 && s <= 1)) throw new Error(`learnability score ${s} is outside [0, 1]`);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** r_prop (paper Eq. 4): 1 − r̄ if 0 < r̄ < 1, else 0; `inverse`: 1 − r̄ always. */
export function learnability(rbar: number, mode: LearnabilityMode = "one-minus"): number {
  if (!(rbar >= 0 && rbar <= 1)) throw new Error(`solve rate r̄=${rbar} is outside [0, 1]`);
  if (mode === "inverse") return 1 - rbar;
  return rbar > 0 && rbar < 1 ? 1 - rbar : 0;
}

export interface ProposerRewardInput {
  /** The executor accepted the proposal (§5.3). */
  valid: boolean;
  /** Format predicate F; pass `true` when `reward.formatCheck` is off. */
  formatOk: boolean;
  /** r_prop; ignored unless valid and well-formed. */
  learnability: number;
  /** Combined extra terms (reward-registry.ts), applied only when F = 1 and r_prop > 0. */
  combineExtras?: (rProp: number) => number;
}

export interface ProposerRewardOptions {
  /** Reward for a valid, well-formed proposal with r_prop = 0 (default −0.5; paper Eq. 6: 0). */
  trivialProposal: number;
}

/** The proposer's final reward (§6.1 table). */
export function proposerReward(x: ProposerRewardInput, o: ProposerRewardOptions): number {
  if (!x.formatOk || !x.valid) return PROPOSER_INVALID_REWARD;
  if (x.learnability === 0) return o.trivialProposal;
  return x.combineExtras ? x.combineExtras(x.learnability) : x.learnability;
}

/**
 * The solver's reward (§6.2 table). `score` is the answer's correctness in [0, 1] (1/0 for
 * binary checks, the fraction in induction `accuracy` mode). F = 0 → −1; F = 1 and score 0 →
 * −0.5; otherwise the score.
 */
export function solverReward(formatOk: boolean, score: number): number {
  if (!(score >= 0 && score <= 1)) throw new Error(`solver score ${score} is outside [0, 1]`);
  if (!formatOk) return SOLVER_REWARD.badFormat;
  return score > 0 ? score : SOLVER_REWARD.wrong;
}

/** Evaluation scoring: 1 / 0 with no penalties, but the tags are still required. */
export function evalScore(formatOk: boolean, correct: boolean): number {
  return formatOk && correct ? 1 : 0;
}

/** Induction score from the hidden pairs' pass/fail list (§6.2 `reward.inductionMode`). */
export function inductionScore(passed: readonly boolean[], mode: InductionMode = "binary"): number {
  if (passed.length === 0) throw new Error("induction scoring needs at least one hidden pair");
  const n = passed.filter(Boolean).length;
  switch (mode) {
    case "binary": return n === passed.length ? 1 : 0;
    case "accuracy": return n / passed.length;
    case "any": return n > 0 ? 1 : 0;
  }
}

/**
 * Deduction: correct iff the answer parses as a literal equal to the gold output (§5.2). An
 * answer that is not a literal is wrong, never an error.
 */
export function deductionCorrect(answerText: string, goldOutput: string): boolean {
  let gold;
  try { gold = parseLiteral(goldOutput); } catch (e) {
    throw new Error(`gold output ${JSON.stringify(goldOutput.slice(0, 80))} is not a literal: the buffer holds an entry the executor should have rejected`, { cause: e });
  }
  try { return pyEqual(parseLiteral(answerText), gold); } catch (e) {
    if (e instanceof LiteralError) return false;
    throw e;
  }
}

/** Error type: the first word of the answer equals the gold type name, case-insensitively. */
export function errorCorrect(answerName: string, goldName: string): boolean {
  return answerName.trim().toLowerCase() === goldName.trim().toLowerCase() && goldName.trim() !== "";
}

/** `reward.validProgramFilter`: may a valid proposal with solve rate r̄ enter its buffer? */
export function admits(filter: AdmissionFilter, rbar: number): boolean {
  switch (filter) {
    case "all": return true;
    case "not-always-solved": return rbar < 1;
    case "not-extremes": return rbar > 0 && rbar < 1;
  }
}
