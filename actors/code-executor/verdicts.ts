/**
 * Absolute Zero's verdicts (azr-spec §5.3, §6.2), decided in trusted code from what a sandboxed
 * worker observed.
 *
 * Covers: the order of the validation checks (first failure is the verdict), determinism as
 * identical reprs of two calls on fresh arguments with no memory address in them, the output
 * rules (exact builtin types — checked in the worker without calling the object —, repr parses
 * back as a literal, at most maxOutputChars), the optional second-hash-seed check, building the
 * solver tasks of each type from a valid proposal, and judging answers per type by comparing
 * parsed literals here, never in the sandbox and never through an object's own `__eq__`. Not:
 * parsing the model's response into program / input fences (azr/proposal.ts) or running
 * anything (pool.ts).
 */
import { parseArgs, parseLiteral, pyEqual, tryParseLiteral, LiteralError, type PyValue } from "../../azr/literal.ts";
import type { Triplet, InductionEntry } from "../../azr/tasks.ts";
import { text, type CallOutput, type Observation } from "./protocol.ts";

export type Reason =
  | "valid"
  | "correct"
  | "syntax error"
  | "input not a literal"
  | "banned import"
  | "no function f"
  | "wrong arity"
  | "exception"
  | "timeout"
  | "memory"
  | "crashed"
  | "left a thread running"
  | "non-deterministic"
  | "hash-order dependent"
  | "output not a literal"
  | "output too long"
  | "answer not a literal"
  | "mismatch"
  | "infrastructure";

/** Every verdict says why, in a short fixed reason and a message with the specifics. */
export interface Verdict {
  ok: boolean;
  reason: Reason;
  message: string;
}

export const fail = (reason: Reason, message: string): Verdict => ({ ok: false, reason, message });

const SIGNAL_NAMES: Record<number, string> = { 6: "SIGABRT", 7: "SIGBUS", 9: "SIGKILL", 11: "SIGSEGV", 24: "SIGXCPU", 25: "SIGXFSZ" };

/** A default repr's address (`<f.<locals>.g at 0x7f…>`, `<A object at 0x55…>`) inside an output or an error. */
const MEMORY_ADDRESS = / at 0x[0-9a-f]{6,}>/;

/** An exception's text with default-repr addresses elided: the same verdict in every process. */
const errorText = (e: { type: Uint8Array | string; message: Uint8Array | string }) => `${text(e.type)}: ${text(e.message).replace(new RegExp(MEMORY_ADDRESS.source, "g"), " at 0x…>")}`;

/** The verdict of a run that did not produce outputs, or undefined when all calls returned. */
export function stageVerdict(obs: Observation, timeoutMs: number): Verdict | undefined {
  const err = obs.error ? errorText(obs.error) : "";
  switch (obs.stage) {
    case "ok": return undefined;
    case "syntax": return fail("syntax error", err || "the program does not parse");
    case "input": return fail("input not a literal", err);
    case "banned": return fail("banned import", `banned import ${obs.banned}`);
    case "no-f": return fail("no function f", obs.error ? err : "the program defines no callable f");
    case "arity": return fail("wrong arity", text(obs.error?.message));
    case "error": return fail("exception", err);
    case "memory": return fail("memory", "MemoryError: the task exceeded its memory limit");
    case "timeout": return fail("timeout", `did not finish within ${timeoutMs} ms`);
    case "threads": return fail("left a thread running", "the task left a thread running after it returned");
    case "crash": {
      if (obs.error?.type && text(obs.error.type) === "infrastructure") return fail("infrastructure", text(obs.error.message));
      if (obs.signal === 24) return fail("timeout", `exceeded its CPU-time limit (${Math.ceil(timeoutMs / 1000)} s)`);
      const how = obs.signal ? `killed by signal ${obs.signal}${SIGNAL_NAMES[obs.signal] ? ` (${SIGNAL_NAMES[obs.signal]})` : ""}` : `exited with code ${obs.exitCode}`;
      return fail("crashed", `the process ${how} during the task`);
    }
  }
  return fail("crashed", `unknown stage ${String(obs.stage)}`);
}

/** Parsed output of one call, or the verdict against it (checks 6–7 for one argument list). */
export function judgeCall(runs: CallOutput[], maxOutputChars: number): { ok: true; repr: string; value: PyValue } | Verdict {
  const first = runs[0];
  if (!first) return fail("crashed", "the worker returned no output for a call");
  for (let k = 1; k < runs.length; k++) {
    const r = runs[k];
    // The message names no value: the values of a non-deterministic f differ from run to run, and
    // the verdict must be the same whichever mode, worker or process produced it (azr-spec §5.4).
    if (r.literal !== first.literal) {
      const kind = (c: CallOutput) => (c.literal ? "a literal" : `a ${text(c.type)}`);
      return fail("non-deterministic", `two calls on the same input returned ${kind(first)} and ${kind(r)}`);
    }
  }
  // Two calls in one process can agree on an address (the allocator hands the freed block back),
  // yet the value differs in every other process: pooled and strict runs, workers, the reference.
  // Checked in every call's output before comparing them, so the message does not depend on
  // whether this process's two calls happened to get the same address (one mode said "different
  // values", the other "a memory address", for the same program).
  if (runs.some((r) => r.literal && MEMORY_ADDRESS.test(r.repr ?? ""))) {
    return fail("non-deterministic", "the output contains a memory address (a default repr such as <… object at 0x…>), which differs from process to process");
  }
  for (let k = 1; k < runs.length; k++) {
    const r = runs[k];
    if (first.literal && (r.repr !== first.repr || r.len !== first.len)) return fail("non-deterministic", "two calls on the same input returned different values");
  }
  if (!first.literal) return fail("output not a literal", `f returned a ${text(first.type)}, not a literal of builtin types`);
  const len = first.len ?? 0;
  if (len > maxOutputChars) return fail("output too long", `the output's repr has ${len >= 2 ** 30 ? "more than 4300 digits" : `${len} characters`} (limit ${maxOutputChars})`);
  const repr = first.repr ?? "";
  try {
    return { ok: true, repr, value: parseLiteral(repr) };
  } catch (e) {
    if (e instanceof LiteralError) return fail("output not a literal", `the output's repr ${clip(repr)} does not parse back as a literal (${e.message})`);
    throw e;
  }
}

function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Check 1, input half: the argument list parses as literals (in trusted code). */
export function inputVerdict(input: string): Verdict | undefined {
  try {
    parseArgs(input);
    return undefined;
  } catch (e) {
    if (e instanceof LiteralError) return fail("input not a literal", `input ${clip(input)}: ${e.message}`);
    throw e;
  }
}

/** Validation of one program over its inputs: the reprs, or the first failing check. */
export function judgeValidation(obs: Observation, o: { timeoutMs: number; maxOutputChars: number; calls: number }): { ok: true; outputs: string[]; values: PyValue[] } | Verdict {
  const v = stageVerdict(obs, o.timeoutMs);
  if (v) return v;
  const outs = obs.outputs ?? [];
  if (outs.length !== o.calls) return fail("crashed", `the worker returned ${outs.length} outputs for ${o.calls} inputs`);
  const outputs: string[] = [];
  const values: PyValue[] = [];
  for (let i = 0; i < outs.length; i++) {
    const c = judgeCall(outs[i], o.maxOutputChars);
    if (!("repr" in c)) return o.calls > 1 ? { ...c, message: `input ${i + 1}: ${c.message}` } : c;
    outputs.push(c.repr);
    values.push(c.value);
  }
  return { ok: true, outputs, values };
}

/** Reasons that concern the program as a whole, the same on every input: named without one. */
const PROGRAM_REASONS: ReadonlySet<Reason> = new Set<Reason>(["syntax error", "banned import", "no function f"]);

/** A verdict's message naming the input it failed on (`input 3`, `hidden input 2`), unless it is about the whole program. */
export function perInput(v: Verdict, where: string): string {
  return PROGRAM_REASONS.has(v.reason) ? v.message : `${where}: ${v.message}`;
}

/** The optional second-hash-seed check, one observation per input: the same values (not reprs: a set may print in another order). */
export function judgeHashSeed(first: PyValue[], second: Observation[], o: { timeoutMs: number; maxOutputChars: number }): Verdict | undefined {
  for (let i = 0; i < first.length; i++) {
    const r = judgeValidation(second[i] ?? { id: 0, stage: "ok", outputs: [] }, { ...o, calls: 1 });
    if (!("outputs" in r)) return fail("hash-order dependent", `under another string-hash seed: ${r.reason}: ${first.length > 1 ? perInput(r, `input ${i + 1}`) : r.message}`);
    if (!pyEqual(first[i], r.values[0])) return fail("hash-order dependent", `input ${i + 1} gives ${clip(r.outputs[0])} under another string-hash seed`);
  }
  return undefined;
}

// ---------------------------------------------------------------- solver tasks (azr-spec §1, §4.4)
export interface DeductionTask { type: "deduction"; program: string; input: string; /** gold */ output: string }
export interface AbductionTask { type: "abduction"; program: string; output: string; /** one gold input */ input: string }
export interface InductionTask {
  type: "induction";
  message: string;
  imports: string[];
  shown: { input: string; output: string }[];
  hidden: { input: string; output: string }[];
  /** The gold program (not shown to the solver). */
  program: string;
}
export type SolverTask = DeductionTask | AbductionTask | InductionTask;

export const deductionTask = (t: Pick<Triplet, "program" | "input" | "output">): DeductionTask =>
  ({ type: "deduction", program: t.program, input: t.input, output: t.output });
export const abductionTask = (t: Pick<Triplet, "program" | "input" | "output">): AbductionTask =>
  ({ type: "abduction", program: t.program, input: t.input, output: t.output });

/** First ⌊N/2⌋ pairs shown with the message, the rest hidden for checking (§4.4). */
export function inductionTask(e: Pick<InductionEntry, "program" | "inputs" | "outputs" | "message" | "imports">): InductionTask {
  const pairs = e.inputs.map((input, i) => ({ input, output: e.outputs[i] }));
  const k = Math.floor(pairs.length / 2);
  return { type: "induction", program: e.program, message: e.message, imports: e.imports, shown: pairs.slice(0, k), hidden: pairs.slice(k) };
}

// ---------------------------------------------------------------- answers (azr-spec §6.2)
export type InductionMode = "binary" | "accuracy" | "any";

export interface AnswerVerdict extends Verdict {
  /** 1 / 0, or the fraction of hidden pairs passed in `accuracy` mode. */
  score: number;
}

export const wrong = (reason: Reason, message: string): AnswerVerdict => ({ ok: false, reason, message, score: 0 });

/** Deduction needs no execution: the answer literal against the gold output. */
export function judgeDeduction(task: DeductionTask, answer: string): AnswerVerdict {
  const got = tryParseLiteral(answer);
  if (got === undefined) return wrong("answer not a literal", `the answer ${clip(answer)} is not a Python literal`);
  const gold = parseLiteral(task.output);
  return pyEqual(got, gold)
    ? { ok: true, reason: "correct", message: "equals the gold output", score: 1 }
    : wrong("mismatch", `${clip(answer)} ≠ gold ${clip(task.output)}`);
}

/** Abduction: f(answer) as observed in the sandbox, compared with the gold output here. */
export function judgeAbduction(task: AbductionTask, obs: Observation, o: { timeoutMs: number; maxOutputChars: number }): AnswerVerdict {
  const v = stageVerdict(obs, o.timeoutMs);
  if (v) return { ...v, ok: false, score: 0 };
  const c = judgeCall(obs.outputs?.[0] ?? [], o.maxOutputChars);
  if (!("repr" in c)) return { ...c, ok: false, score: 0 };
  return pyEqual(c.value, parseLiteral(task.output))
    ? { ok: true, reason: "correct", message: "f(answer) equals the gold output", score: 1 }
    : wrong("mismatch", `f(answer) = ${clip(c.repr)} ≠ gold ${clip(task.output)}`);
}

/**
 * Induction: the answered program run on each hidden input as its own task (one observation per
 * hidden pair, in order), scored per `mode`. When no pair passes, the first failure's own reason
 * (banned import, exception, timeout…) is the verdict; an infrastructure failure on any pair
 * makes the whole check one, so the step can leave it out (§6.1) rather than score a partial run.
 */
export function judgeInduction(task: InductionTask, obs: Observation[], mode: InductionMode, o: { timeoutMs: number; maxOutputChars: number }): AnswerVerdict {
  let passed = 0;
  let firstFailure: { v: Verdict; at: number } | undefined;
  // Binary mode may stop at the first failing pair (the score is 0 whatever the rest do): the pairs
  // after it were not run, and are not counted.
  const stopped = mode === "binary" && obs.length < task.hidden.length;
  for (const [i, pair] of task.hidden.entries()) {
    if (stopped && i >= obs.length) break;
    const failure = pairFailure(pair, obs[i], o);
    if (!failure) { passed++; continue; }
    if (failure.reason === "infrastructure") return { ...failure, ok: false, score: 0 };
    firstFailure ??= { v: failure, at: i };
  }
  if (stopped && !firstFailure) return { ...fail("crashed", `${obs.length} of ${task.hidden.length} hidden pairs were run, and none failed`), ok: false, score: 0 };
  const n = task.hidden.length;
  const score = mode === "accuracy" ? (n ? passed / n : 0) : mode === "any" ? (passed > 0 ? 1 : 0) : (passed === n && n > 0 ? 1 : 0);
  if (score === 1) return { ok: true, reason: "correct", message: `${passed}/${n} hidden pairs reproduced`, score };
  if (!firstFailure) return { ok: false, reason: "mismatch", message: `${passed}/${n} hidden pairs reproduced; no hidden pairs`, score };
  const { v: f, at } = firstFailure;
  if (passed === 0 && f.reason !== "mismatch") return { ok: false, reason: f.reason, message: perInput(f, `hidden input ${at + 1}`), score };
  const what = f.reason === "mismatch" ? f : { ...f, message: `${f.reason}: ${f.message}` };
  const counted = stopped ? `${passed}/${n} hidden pairs reproduced before the first failure (the rest not run)` : `${passed}/${n} hidden pairs reproduced`;
  return { ok: false, reason: "mismatch", message: `${counted}; ${perInput(what, `hidden input ${at + 1}`)}`, score };
}

/** One hidden pair of an induction answer: undefined when the run reproduced its output, else why not. */
export function pairFailure(pair: { output: string }, ob: Observation | undefined, o: { timeoutMs: number; maxOutputChars: number }): Verdict | undefined {
  const v: Verdict | { ok: true; repr: string; value: PyValue } = !ob ? fail("crashed", "the worker returned no observation")
    : stageVerdict(ob, o.timeoutMs) ?? judgeCall(ob.outputs?.[0] ?? [], o.maxOutputChars);
  if (v.ok && "repr" in v && pyEqual(v.value, parseLiteral(pair.output))) return undefined;
  return "repr" in v ? fail("mismatch", `${clip(v.repr)} ≠ ${clip(pair.output)}`) : v;
}
