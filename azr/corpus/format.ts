/**
 * The corpus formatter: turns executed programs into pretraining texts in exactly the forms the
 * `tiny` recipe's prompts take, by calling azr's prompt builders (`azr/prompts.ts`, compact
 * variant) and `formatResponse` — one definition for both, so they cannot drift apart.
 *
 * Forms (the skills a base model must bring to self-play):
 *   propose            a deduction/abduction proposer prompt with K references → a new program + input
 *   propose-induction  an induction proposer prompt (a program) → N inputs + a message
 *   deduction          program + input → output
 *   abduction          program + output → an input
 *   induction          shown pairs + message → the program
 * Each text is `prompt + response` (the prompt ends with the pre-filled `<think>`; the thinking
 * is left empty — the tiny model learns the format, self-play grows the rest — except in a
 * deduction example whose pair carries an execution trace, which becomes its thinking). `segments` cover
 * the text and mark the answer values, so a trainer can weigh answer tokens more; every answer
 * span starts right after and ends right before a newline, so with our tokenizer (newline is
 * always its own pre-token) a span is also a whole number of tokens.
 *
 * Covers: texts, segments, the per-program mix, the curriculum order. Not: running programs,
 * tokenising, writing files.
 */
import { fence, formatResponse, proposerPrompt, solverPrompt, splitInductionPairs, type ProposerOptions, type Prompt, type ReferenceTask } from "../prompts.ts";
import type { Level } from "./programs.ts";
import { Rng } from "./rng.ts";
import type { ValueType } from "./values.ts";

/** A program with its true input/output pairs (all checked by execution). */
export interface ExecutedProgram {
  id: string;
  level: Level;
  template: string;
  params: ValueType[];
  source: string;
  message: string;
  /** `trace`: f's execution on that input as harness.py writes it (make-corpus --think trace), the deduction example's thinking. */
  pairs: { input: string; output: string; trace?: string }[];
}

export const CORPUS_FORMS = ["propose", "propose-induction", "deduction", "abduction", "induction"] as const;
export type CorpusForm = (typeof CORPUS_FORMS)[number];

export type SegmentKind = "prompt" | "response" | "answer";

/** [start, end) character offsets into `text`. */
export interface Segment {
  start: number;
  end: number;
  kind: SegmentKind;
}

export interface CorpusExample {
  form: CorpusForm;
  programId: string;
  level: Level;
  text: string;
  /** Characters of `text` that are prompt (the rest is the response). */
  promptChars: number;
  /** Contiguous, covering `text` exactly, in order. */
  segments: Segment[];
}

/** The banned words of azr-spec §5.3 (reference list), shown in proposer prompts. */
export const SPEC_BANNED_WORDS = [
  "logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime", "time", "hashlib",
  "hmac", "bcrypt", "os.sys", "os.path", "sys.exit", "os.environ", "calendar",
] as const;

export interface CorpusFormatOptions {
  /** The prompt settings of the recipe the model will self-play with (the tiny recipe's). */
  proposer: ProposerOptions;
  /** References shown to a proposer: K is drawn from 0..maxReferences (tiny recipe K ≈ 3). */
  maxReferences: number;
  /** Expected examples per program and form; a fraction is a probability (0.5 → every other program). */
  mix: Record<CorpusForm, number>;
}

/** The tiny recipe's prompt settings (azr-spec §11): compact prompts, one function, N = 6. */
export const TINY_FORMAT_OPTIONS: CorpusFormatOptions = {
  proposer: {
    variant: "compact",
    bannedWords: SPEC_BANNED_WORDS,
    rejectMultipleFunctions: true,
    timeoutSeconds: 10,
    nInputs: 6,
  },
  maxReferences: 3,
  // Deduction and abduction are what self-play solves most and what the held-out eval scores;
  // each program text is repeated per example, so more pairs per program means more answer
  // tokens per program token.
  mix: { propose: 0.5, "propose-induction": 0.25, deduction: 3, abduction: 2, induction: 1 },
};

/** A prompt as plain text: the corpus always uses the R1 text form (no chat template). */
function textOf(p: Prompt): string {
  if (p.kind !== "text") throw new Error("corpus prompts must be text prompts (chatTemplate: false)");
  return p.text;
}

/** Builds one example: the answer parts are (fence language, value) pairs joined by newlines. */
function example(form: CorpusForm, prog: ExecutedProgram, prompt: string, answer: [string, string][], think = ""): CorpusExample {
  const parts = answer.map(([lang, body]) => fence(lang, body));
  const response = formatResponse(think, parts.join("\n"));
  const text = prompt + response;
  // Locate each answer body inside the response: the fences are laid out in order.
  const segments: Segment[] = [{ start: 0, end: prompt.length, kind: "prompt" }];
  let cursor = prompt.length;
  let searchFrom = prompt.length;
  for (const [lang, body] of answer) {
    const open = text.indexOf("```" + lang + "\n", searchFrom);
    if (open < 0) throw new Error(`corpus example ${prog.id}/${form}: fence ${lang} not found in its own response`);
    const start = open + 3 + lang.length + 1;
    const end = start + body.length;
    if (text.slice(start, end) !== body || text[end] !== "\n") throw new Error(`corpus example ${prog.id}/${form}: answer span misplaced`);
    if (start > cursor) segments.push({ start: cursor, end: start, kind: "response" });
    if (end > start) segments.push({ start, end, kind: "answer" });
    cursor = end;
    searchFrom = end;
  }
  if (cursor < text.length) segments.push({ start: cursor, end: text.length, kind: "response" });
  return { form, programId: prog.id, level: prog.level, text, promptChars: prompt.length, segments };
}

const WRAP = { variant: "compact", chatTemplate: false } as const;

/** With a trace, the thinking is the trace on lines of its own: `<think>\nx = 1\nreturn 2\n</think>`. */
export function deductionExample(prog: ExecutedProgram, pair: ExecutedProgram["pairs"][number], o: CorpusFormatOptions): CorpusExample {
  const prompt = textOf(solverPrompt({ type: "deduction", program: prog.source, input: pair.input }, { ...WRAP, variant: o.proposer.variant, rejectMultipleFunctions: o.proposer.rejectMultipleFunctions }));
  return example("deduction", prog, prompt, [["output", pair.output]], pair.trace ? `\n${pair.trace}` : "");
}

export function abductionExample(prog: ExecutedProgram, pair: { input: string; output: string }, o: CorpusFormatOptions): CorpusExample {
  const prompt = textOf(solverPrompt({ type: "abduction", program: prog.source, output: pair.output }, { ...WRAP, variant: o.proposer.variant, rejectMultipleFunctions: o.proposer.rejectMultipleFunctions }));
  return example("abduction", prog, prompt, [["input", pair.input]]);
}

/** Induction uses the first N pairs (N = nInputs), shows the first half, answers with the program. */
export function inductionExample(prog: ExecutedProgram, o: CorpusFormatOptions): CorpusExample {
  const { shown } = splitInductionPairs(prog.pairs.slice(0, o.proposer.nInputs));
  const prompt = textOf(solverPrompt({ type: "induction", shown, message: prog.message }, { ...WRAP, variant: o.proposer.variant, rejectMultipleFunctions: o.proposer.rejectMultipleFunctions }));
  return example("induction", prog, prompt, [["python", prog.source]]);
}

export function proposeExample(prog: ExecutedProgram, type: "deduction" | "abduction", refs: ReferenceTask[], pairIndex: number, o: CorpusFormatOptions): CorpusExample {
  const prompt = textOf(proposerPrompt({ type, references: refs }, { ...o.proposer, chatTemplate: false }));
  return example("propose", prog, prompt, [["python", prog.source], ["input", prog.pairs[pairIndex].input]]);
}

export function proposeInductionExample(prog: ExecutedProgram, o: CorpusFormatOptions): CorpusExample {
  const prompt = textOf(proposerPrompt({ type: "induction", program: prog.source }, { ...o.proposer, chatTemplate: false }));
  const inputs = prog.pairs.slice(0, o.proposer.nInputs).map((p) => ["input", p.input] as [string, string]);
  return example("propose-induction", prog, prompt, [...inputs, ["message", prog.message]]);
}

/** How many examples of a form a program gets: the integer part always, the fraction by chance. */
function countFor(rate: number, rng: Rng): number {
  const whole = Math.floor(rate);
  return whole + (rng.chance(rate - whole) ? 1 : 0);
}

/**
 * Every example for the corpus's programs. Which pairs and references each example uses comes
 * from `Rng.derive(seed, "format", program id)`, so an example depends only on its program and
 * the seed. References for a proposer are drawn from the other programs of the corpus.
 */
export function formatCorpus(programs: readonly ExecutedProgram[], seed: number, o: CorpusFormatOptions): CorpusExample[] {
  const out: CorpusExample[] = [];
  const needed = o.proposer.nInputs;
  for (const prog of programs) {
    const rng = Rng.derive(seed, "format", prog.id);
    const order = rng.shuffle(prog.pairs.map((_, i) => i));
    const pairAt = (k: number) => prog.pairs[order[k % order.length]];
    for (let k = 0, n = countFor(o.mix.deduction, rng); k < n; k++) out.push(deductionExample(prog, pairAt(k), o));
    for (let k = 0, n = countFor(o.mix.abduction, rng); k < n; k++) out.push(abductionExample(prog, pairAt(k + 1), o));
    if (prog.pairs.length >= needed) {
      for (let k = 0, n = countFor(o.mix.induction, rng); k < n; k++) out.push(inductionExample(prog, o));
      for (let k = 0, n = countFor(o.mix["propose-induction"], rng); k < n; k++) out.push(proposeInductionExample(prog, o));
    }
    for (let k = 0, n = countFor(o.mix.propose, rng); k < n; k++) {
      const refs: ReferenceTask[] = [];
      const kRefs = rng.int(0, o.maxReferences);
      for (let r = 0; r < kRefs && programs.length > 1; r++) {
        const other = programs[rng.int(0, programs.length - 1)];
        if (other.id === prog.id) continue;
        const pair = other.pairs[rng.int(0, other.pairs.length - 1)];
        refs.push({ program: other.source, input: pair.input, output: pair.output });
      }
      out.push(proposeExample(prog, rng.chance(0.5) ? "deduction" : "abduction", refs, order[0], o));
    }
  }
  return out;
}

/**
 * Curriculum order: easy programs first, hard ones mixed in later, easy ones never dropped.
 * Each example gets a start time uniform in [ramp·level/maxLevel, 1] and the corpus is sorted by
 * it: level 0 spreads over the whole corpus, the hardest level appears only after `ramp` of it.
 * Sorting, not filtering: the same examples, reordered; deterministic from `seed`.
 */
export function curriculumOrder<T extends { level: Level; programId: string }>(examples: readonly T[], seed: number, ramp = 0.6, maxLevel = 4): T[] {
  const rng = Rng.derive(seed, "curriculum");
  const keyed = examples.map((e) => {
    const from = ramp * (e.level / maxLevel);
    return { e, t: from + (1 - from) * rng.float() };
  });
  keyed.sort((a, b) => a.t - b.t);
  return keyed.map((k) => k.e);
}
