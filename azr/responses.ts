/**
 * From a model's response to what the executor and the reward need, per task type and role —
 * the glue of answer.ts and proposal.ts that the self-play driver calls — and from a buffer
 * entry to the solver's task and its gold answer.
 *
 * Covers: the format predicate (optional), answer extraction, proposal parsing (whole response
 * when seeding, §4.2), solver answer extraction, solver tasks and gold answers. Not: running
 * anything (abduction and induction answers go to the executor), reward arithmetic (rewards.ts).
 *
 * Departures from the reference: those of answer.ts and proposal.ts (no `Assistant:` split,
 * python-only program fence, duplicate-input rule); nothing new here.
 */
import { extractAnswer, extractErrorName, extractSolverProgram, extractSolverValue, formatOk } from "./answer.ts";
import {
  parseInductionProposal, parseTripletProposal, type InductionParseOptions, type InductionProposal, type ParseFailure, type ProgramOptions, type TripletProposal,
} from "./proposal.ts";
import { splitInductionPairs, type IoPair, type SolverTask } from "./prompts.ts";
import type { InductionEntry, TaskType, Triplet } from "./tasks.ts";

export interface ReadOptions {
  /** Apply the format predicate F (`reward.formatCheck`); off → F is taken as 1. */
  formatCheck: boolean;
  /** Seeding parses the whole response: no `<answer>` extraction, no format check (§4.2). */
  wholeResponse?: boolean;
}

export interface ProposerReading<P> {
  formatOk: boolean;
  proposal: P | ParseFailure;
}

function answerOf(response: string, o: ReadOptions): { formatOk: boolean; text: string } {
  if (o.wholeResponse) return { formatOk: true, text: response };
  return { formatOk: o.formatCheck ? formatOk(response) : true, text: extractAnswer(response) };
}

/**
 * A deduction / abduction / error proposer's response. Every parsed proposal goes to the
 * executor whatever F is (a valid proposal enters the buffer regardless of its tags, §2 step 2);
 * F only decides the proposer's reward.
 */
export function readTripletProposer(response: string, program: ProgramOptions, o: ReadOptions): ProposerReading<TripletProposal> {
  const a = answerOf(response, o);
  return { formatOk: a.formatOk, proposal: parseTripletProposal(a.text, program) };
}

/** An induction proposer's response (the program is the one it was shown). */
export function readInductionProposer(response: string, induction: InductionParseOptions, o: ReadOptions): ProposerReading<InductionProposal> {
  const a = answerOf(response, o);
  return { formatOk: a.formatOk, proposal: parseInductionProposal(a.text, induction) };
}

/**
 * A solver's answer: the value text (deduction / abduction / error) or program (induction), or
 * undefined when there is none to check. For induction, no code fence means F = 0 (§6.2).
 */
export interface SolverReading {
  formatOk: boolean;
  answer: string | undefined;
}

export function readSolver(type: TaskType, response: string, o: ReadOptions): SolverReading {
  const a = answerOf(response, o);
  switch (type) {
    case "deduction": return { formatOk: a.formatOk, answer: extractSolverValue(a.text, "output") };
    case "abduction": return { formatOk: a.formatOk, answer: extractSolverValue(a.text, "input") };
    case "error": return { formatOk: a.formatOk, answer: extractErrorName(a.text) };
    case "induction": {
      const program = extractSolverProgram(a.text);
      return { formatOk: a.formatOk && program !== undefined, answer: program };
    }
  }
}

/** What the solver of a task is shown and what its answer is checked against. */
export type SolverCase =
  | { task: Extract<SolverTask, { type: "deduction" }>; gold: { output: string } }
  | { task: Extract<SolverTask, { type: "abduction" }>; gold: { program: string; imports: string[]; output: string } }
  | { task: Extract<SolverTask, { type: "error" }>; gold: { errorName: string } }
  | { task: Extract<SolverTask, { type: "induction" }>; gold: { imports: string[]; hidden: IoPair[] } };

/** The solver case of a deduction / abduction / error triplet. */
export function tripletSolverCase(type: "deduction" | "abduction" | "error", e: Triplet): SolverCase {
  switch (type) {
    case "deduction": return { task: { type, program: e.program, input: e.input }, gold: { output: e.output } };
    case "abduction": return { task: { type, program: e.program, output: e.output }, gold: { program: e.program, imports: e.imports, output: e.output } };
    case "error": return { task: { type, program: e.program, input: e.input }, gold: { errorName: e.output } };
  }
}

/** The solver case of an induction entry: the first ⌊N/2⌋ pairs shown with the message, the rest hidden (§4.4). */
export function inductionSolverCase(e: InductionEntry): SolverCase {
  if (e.inputs.length !== e.outputs.length || e.inputs.length < 2) {
    throw new Error(`induction entry has ${e.inputs.length} inputs and ${e.outputs.length} outputs; it needs ≥ 2 equal-length lists`);
  }
  const pairs = e.inputs.map((input, i) => ({ input, output: e.outputs[i] }));
  const { shown, hidden } = splitInductionPairs(pairs);
  return { task: { type: "induction", shown, message: e.message }, gold: { imports: e.imports, hidden } };
}
