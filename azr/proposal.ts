/**
 * Turning a proposer's answer into a candidate task (azr-spec §5.1), before the executor runs it.
 *
 * Covers: picking the program and input fences of a deduction / abduction / error proposal,
 * the function-count rule, choosing and renaming the entry function, recording imports, the
 * inputs and message of an induction proposal, and its duplicate-input rule. Not: running
 * anything — checks 1–7 of §5.3 are the executor's; a candidate that parses here can still be
 * invalid there.
 *
 * Departures from the reference:
 * - (fixed) the program is the first fence tagged `python` (or an alias) or untagged; the
 *   reference takes the first fence of any language, so an `input` fence placed first became
 *   the program;
 * - (fixed) the entry function is renamed by tokens, not by text substitution;
 * - (Decision `validation.allowDuplicateInputs`, default false) an induction proposal whose
 *   inputs repeat a value is invalid; the reference allows it, which defeats the held-out check;
 * - imports are recorded and left in the program text, never prepended a second time.
 */
import { fencesOf, markerLine, tagContent } from "./answer.ts";
import { functionDefs, importStatements, moduleLevelTestCode, PySourceError, renameFunction, tokenizePython } from "./pysource.ts";
import { argsKey, tryParseArgs } from "./literal.ts";

/** Why a proposal was rejected before execution; the executor adds its own reasons (§5.3). */
export type ParseFailureReason =
  | "no program"
  | "no input"
  | "no function"
  | "multiple functions"
  | "test code"
  | "syntax"
  | "too few inputs"
  | "no message"
  | "duplicate inputs"
  | "name clash";

export interface ParseFailure {
  ok: false;
  reason: ParseFailureReason;
  /** Human-readable specifics (which fence, which inputs). */
  detail: string;
}

export interface ProgramOptions {
  /** More than one `def` anywhere (nested and methods count) → "multiple functions". */
  rejectMultipleFunctions: boolean;
  /** Which `def` becomes `f` when none is named `f`. */
  entryFunction: "first" | "last";
  /** `validation.rejectTestCodeInProgram` (off as the paper): module-level calls of `f`, prints or asserts → "test code". */
  rejectTestCode?: boolean;
}

export interface PreparedProgram {
  ok: true;
  /** The program with its entry function named `f`. */
  program: string;
  imports: string[];
  /** The name the entry function had before renaming (`f` if it already had it). */
  entryName: string;
}

const fail = (reason: ParseFailureReason, detail: string): ParseFailure => ({ ok: false, reason, detail });

/** Apply the function-count and entry-function rules to a program text, and list its imports. */
export function prepareProgram(program: string, opts: ProgramOptions): PreparedProgram | ParseFailure {
  let defs;
  let imports;
  try {
    defs = functionDefs(program);
    imports = importStatements(program);
  } catch (e) {
    if (e instanceof PySourceError) return fail("syntax", e.message);
    throw e;
  }
  if (defs.length === 0) return fail("no function", "the program defines no function (`def f(...)` expected)");
  if (opts.rejectMultipleFunctions && defs.length > 1) {
    return fail("multiple functions", `the program defines ${defs.length} functions (${defs.map((d) => d.name).join(", ")}); exactly one is allowed`);
  }
  const entryName = defs.some((d) => d.name === "f") ? "f" : (opts.entryFunction === "first" ? defs[0] : defs[defs.length - 1]).name;
  if (opts.rejectTestCode) {
    const test = moduleLevelTestCode(program, [entryName]);
    if (test !== undefined) return fail("test code", `module-level test code \`${test.length > 80 ? test.slice(0, 77) + "..." : test}\`: the program must only define f`);
  }
  if (entryName === "f") return { ok: true, program, imports, entryName };
  // Renaming the entry function onto a name the program already uses (a variable or parameter
  // `f`) would merge two bindings and change what it computes: such a program is refused.
  if (renameFunction(program, "f", "f_") !== program) {
    return fail("name clash", `the entry function ${entryName} cannot be renamed to f: the program already uses the name f for something else`);
  }
  return { ok: true, program: renameFunction(program, entryName, "f"), imports, entryName };
}

export interface TripletProposal {
  ok: true;
  program: string;
  input: string;
  imports: string[];
  entryName: string;
}

/**
 * A deduction / abduction / error proposal from `text` (the answer, or the whole response when
 * seeding): the first python/untagged fence is the program; the first `input` fence (fallback:
 * the first `# Input:` line) is the input. Both are required, both stripped.
 */
export function parseTripletProposal(text: string, opts: ProgramOptions): TripletProposal | ParseFailure {
  const program = fencesOf(text, "python", "")[0];
  if (program === undefined || program === "") return fail("no program", "no ```python fence with the program");
  const input = fencesOf(text, "input")[0] ?? markerLine(text, "Input", "first");
  if (input === undefined) return fail("no input", "no ```input fence (or `# Input:` line) with the input");
  const prepared = prepareProgram(program, opts);
  if (!prepared.ok) return prepared;
  return { ok: true, program: prepared.program, input: input.trim(), imports: prepared.imports, entryName: prepared.entryName };
}

export interface InductionProposal {
  ok: true;
  /** The last N inputs, in proposal order. */
  inputs: string[];
  message: string;
}

export interface InductionParseOptions {
  /** N: how many inputs the prompt asked for. */
  nInputs: number;
  allowDuplicateInputs: boolean;
}

/**
 * An induction proposal: every `input` fence (fewer than N → "too few inputs"; more → keep the
 * last N); the message from the first `message` fence, else `<message>…</message>`, else a
 * `# Message:` line (none → "no message"); two inputs whose parsed argument lists are equal →
 * "duplicate inputs" unless allowed. Inputs that do not parse as literals are left for the
 * executor's syntax check (they are not duplicates of anything here).
 */
export function parseInductionProposal(text: string, opts: InductionParseOptions): InductionProposal | ParseFailure {
  const all = fencesOf(text, "input");
  if (all.length < opts.nInputs) return fail("too few inputs", `found ${all.length} \`\`\`input fences, need ${opts.nInputs}`);
  const inputs = all.slice(all.length - opts.nInputs);
  const message = fencesOf(text, "message")[0] ?? tagContent(text, "message", "first") ?? markerLine(text, "Message", "first");
  if (message === undefined || message.trim() === "") return fail("no message", "no ```message fence, <message> tag or `# Message:` line");
  if (!opts.allowDuplicateInputs) {
    const seen = new Map<string, number>();
    for (const [i, input] of inputs.entries()) {
      const args = tryParseArgs(input);
      if (!args) continue;
      const key = argsKey(args);
      const j = seen.get(key);
      if (j !== undefined) return fail("duplicate inputs", `inputs ${j} and ${i} are the same argument list: ${input}`);
      seen.set(key, i);
    }
  }
  return { ok: true, inputs, message: message.trim() };
}

// ------------------------------------------------------------------ composite functions (§12, optional)
/** Earlier programs renamed `g_0 … g_{c−1}` (their `f` renamed by tokens), for the proposer prompt and for execution. */
export function compositeFunctions(programs: readonly string[]): string[] {
  return programs.map((p, i) => renameFunction(p, "f", `g_${i}`));
}

/** Does `program` call every `g_i` (i < c)? A name followed by `(` counts as a call; strings and comments do not. */
export function callsAllComposites(program: string, c: number): boolean {
  let toks;
  try { toks = tokenizePython(program).filter((t) => t.kind !== "comment"); } catch { return false; }
  const called = new Set<string>();
  toks.forEach((t, k) => { if (t.kind === "name" && toks[k + 1]?.text === "(" && toks[k - 1]?.text !== ".") called.add(t.text); });
  return Array.from({ length: c }, (_, i) => `g_${i}`).every((n) => called.has(n));
}

/**
 * Why a composite proposal is refused before it runs (§12: `f` must call every shown `g_i` and
 * may not replace one with its own definition), or undefined when it may run.
 */
export function compositeProblem(program: string, c: number): string | undefined {
  if (c === 0) return undefined;
  let defs;
  try { defs = functionDefs(program); } catch { return undefined; } // the executor reports the syntax error
  if (defs.some((d) => /^g_\d+$/.test(d.name) && Number(d.name.slice(2)) < c)) return "redefines a composite function";
  return callsAllComposites(program, c) ? undefined : "composite functions not called";
}

/** The program a composite proposal runs and is stored as: the renamed `g_i` first, then the proposer's code (§12). */
export function withComposites(composites: readonly string[], program: string): string {
  return composites.length ? [...composites, program].join("\n\n") : program;
}
