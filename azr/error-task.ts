/**
 * The optional `error` task type (azr-spec §1, §12; the reference's `code_e`, abandoned by the
 * paper): the solver sees a program and an input and names the exception `f(input)` raises, or
 * `NoError`. Off unless a recipe lists `error` in `selfplay.taskTypes`.
 *
 * Covers: the gold answer of an error proposal, read from the executor's verdict on the same
 * program and input run as a deduction check (the executor reports an exception as the verdict
 * "exception" with the message `Type: text`), and the proposer's banned error keywords
 * (`validation.bannedErrorKeywords`, default `raise`: a task that raises on purpose is trivial).
 * Not: running anything (the executor), answer comparison (rewards.ts `errorCorrect`).
 *
 * Departures from the reference: a program that returns normally must still pass every
 * deduction check (deterministic, literal output within the length limit) to become a
 * `NoError` task, so no non-literal object is ever stored; timeouts, memory and crashes are
 * invalid, not gold answers. The executor stops at the first raising call, so it cannot check
 * that a raising program raises the same way twice; the step runs each error proposal twice
 * as separate tasks and {@link errorGoldOfRuns} requires the same gold from both.
 */
import { tokenizePython } from "./pysource.ts";

export const NO_ERROR = "NoError";

/** The verdict fields the gold answer is read from (a ProposalVerdict satisfies it). */
export interface ErrorRunVerdict {
  ok: boolean;
  reason: string;
  message: string;
}

export type ErrorGold = { ok: true; gold: string } | { ok: false; reason: string; message: string };

/** `NoError` for a valid run, the exception's type name for a raising one, otherwise invalid with the run's reason. */
export function errorGold(v: ErrorRunVerdict): ErrorGold {
  if (v.ok) return { ok: true, gold: NO_ERROR };
  if (v.reason === "exception") {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(v.message);
    if (m) return { ok: true, gold: m[1] };
    return { ok: false, reason: "exception", message: `cannot read the exception type from: ${v.message.slice(0, 120)}` };
  }
  return { ok: false, reason: v.reason, message: v.message };
}

/** The first banned error keyword the program uses as a name token (strings and comments do not count), or undefined. */
export function bannedErrorKeyword(program: string, keywords: readonly string[]): string | undefined {
  if (keywords.length === 0) return undefined;
  const banned = new Set(keywords);
  try {
    return tokenizePython(program).find((t) => t.kind === "name" && banned.has(t.text))?.text;
  } catch {
    return undefined; // a program that does not tokenize fails the executor's syntax check instead
  }
}

/**
 * The gold answer of runs of the same program and input: the first invalid run decides;
 * valid runs must agree on the gold (the same exception type, or all `NoError`), else the
 * proposal is invalid "non-deterministic".
 */
export function errorGoldOfRuns(runs: readonly ErrorRunVerdict[]): ErrorGold {
  if (runs.length === 0) throw new Error("errorGoldOfRuns needs at least one run");
  const golds = runs.map(errorGold);
  const bad = golds.find((g) => !g.ok);
  if (bad) return bad;
  const names = [...new Set(golds.map((g) => (g as { gold: string }).gold))];
  if (names.length > 1) return { ok: false, reason: "non-deterministic", message: `separate runs on the same input ended in ${names.join(" and ")}` };
  return golds[0];
}
