/**
 * Prompt text for every task type × role (azr-spec §3), in two variants:
 * `full` — the published recipes' structure (markdown sections, ~500 words for a proposer), and
 * `compact` — the same fences, tags and roles in a few lines, for the `tiny` model (§3.4).
 * The compact builders are exported so the tiny model's pretraining corpus is generated from
 * this one definition (plus {@link formatResponse} for the answer side).
 *
 * Covers: the R1-Zero wrapper (`User: … \nAssistant: <think>`, pre-filled `<think>`), the
 * chat-template option (messages instead of text), proposer and solver task texts, reference
 * blocks. Not: tokenisation, prompt-length limits (the driver measures tokens and re-draws).
 *
 * Departures from the paper / reference:
 * - every word here is ours; the structure, fences and tags follow the reference's format;
 * - (fixed) each proposer prompt states its own task's difficulty criterion (the reference
 *   swaps the deduction and abduction bullets);
 * - with `rejectMultipleFunctions` on, the prompt says plainly that exactly one function is
 *   allowed, instead of inviting nested helpers (which the reference then rejects);
 * - the R1 preamble never contains `Assistant:` except where the assistant turn starts.
 */
import type { TaskType } from "./tasks.ts";

export type PromptVariant = "full" | "compact";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/**
 * What a model is fed. `text`: plain concatenation, no chat template, no BOS token (base models).
 * `chat`: messages for the tokenizer's chat template; the engine appends `assistantPrefill`
 * after the template's generation prompt, so the response still continues `<think>`.
 */
export type Prompt =
  | { kind: "text"; text: string }
  | { kind: "chat"; messages: ChatMessage[]; assistantPrefill: string };

export interface WrapOptions {
  variant: PromptVariant;
  /** Apply the tokenizer's chat template (instruct models) instead of the plain R1 text. */
  chatTemplate: boolean;
}

/** The pre-filled start of every response. */
export const THINK_PREFILL = "<think>";

const R1_PREAMBLE_FULL =
  "This is a dialogue between a User and an Assistant. The User poses a task and the Assistant " +
  "solves it. The Assistant first works the problem out privately, step by step, and only then " +
  "gives its reply. The private reasoning is wrapped in <think> </think> tags and the reply in " +
  "<answer> </answer> tags, like this: <think> reasoning goes here </think> <answer> reply goes here </answer>.";

const R1_PREAMBLE_COMPACT = "A User gives a task. The Assistant thinks inside <think> </think>, then replies inside <answer> </answer>.";

export function r1Preamble(variant: PromptVariant): string {
  return variant === "full" ? R1_PREAMBLE_FULL : R1_PREAMBLE_COMPACT;
}

/** Wrap a task text in the R1-Zero conversation (§3.1). */
export function wrapPrompt(task: string, opts: WrapOptions): Prompt {
  const preamble = r1Preamble(opts.variant);
  if (opts.chatTemplate) {
    return { kind: "chat", messages: [{ role: "system", content: preamble }, { role: "user", content: task }], assistantPrefill: THINK_PREFILL };
  }
  return { kind: "text", text: `${preamble}\nUser: ${task}\nAssistant: ${THINK_PREFILL}` };
}

/** A markdown code fence. */
export function fence(lang: string, body: string): string {
  return "```" + lang + "\n" + body + "\n```";
}

/** A well-formed response (what follows the pre-filled `<think>`): the corpus and tests use it. */
export function formatResponse(think: string, answer: string): string {
  return `${think}\n</think>\n<answer>\n${answer}\n</answer>`;
}

// ------------------------------------------------------------------ shared pieces
export interface ReferenceTask {
  program: string;
  input: string;
  output: string;
}

/** The numbered reference blocks shown to a deduction / abduction proposer (§3.2 item 8). */
export function referenceBlocks(refs: readonly ReferenceTask[]): string {
  return refs
    .map((r, i) => [`<snippet_${i}>`, fence("python", r.program), fence("input", r.input), fence("output", r.output), `</snippet_${i}>`].join("\n"))
    .join("\n");
}

export interface ProposerOptions {
  variant: PromptVariant;
  /** Words and modules the program may not use (shown to the proposer; §5.3 check 2). */
  bannedWords: readonly string[];
  rejectMultipleFunctions: boolean;
  /** Seconds a program may run (shown in the requirements). */
  timeoutSeconds: number;
  /** N, induction only. */
  nInputs: number;
  /** Error type only: keywords the program may not use to raise on purpose (reference: `raise`). */
  bannedErrorKeywords?: readonly string[];
}

const EXAMPLE_PROGRAM = [
  "def f(words, k):",
  "    groups = {}",
  "    for w in words:",
  "        key = w[:k]",
  "        groups[key] = groups.get(key, 0) + len(w)",
  "    return sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))",
].join("\n");
const EXAMPLE_INPUT = "['pear', 'peach', 'plum', 'fig'], 2";

function functionRule(o: ProposerOptions): string {
  return o.rejectMultipleFunctions
    ? "- Write exactly one function, named `f`: no helper functions, no nested functions, no classes with methods."
    : "- The entry point is a function named `f`; helper functions nested inside it and custom classes defined at the top are fine.";
}

function whatTheSubjectSees(type: TaskType): string {
  switch (type) {
    case "deduction": return "the program and the input, and must work out the output it produces";
    case "abduction": return "the program and the output, and must come up with an input that produces it";
    case "error": return "the program and the input, and must say which exception it raises, or that it raises none";
    case "induction": return "some of the inputs and outputs, and must rebuild the program";
  }
}

function difficultyRule(type: TaskType): string {
  switch (type) {
    case "deduction": return "- Hard to predict: reading the code and the input, working out the exact output should take careful step-by-step tracing.";
    case "abduction": return "- Hard to invert: given only the code and the output, finding an input that produces it should take real reasoning, not guesswork.";
    case "error": return "- Hard to call: whether and how the program fails on the input should only become clear after tracing it.";
    case "induction": return "- Hard but solvable: the shown pairs and the message together must pin the behaviour down.";
  }
}

// ------------------------------------------------------------------ proposer prompts
/**
 * The composite-functions section (§12, optional, off in every recipe): earlier programs, already
 * renamed `g_0 … g_{c−1}` (see `compositeFunctions` in proposal.ts), that the new `f` must call.
 */
export function compositeSection(composites: readonly string[], variant: PromptVariant): string {
  if (composites.length === 0) return "";
  const names = composites.map((_, i) => `g_${i}`).join(", ");
  const intro = variant === "compact"
    ? `These functions exist; f must call each of them (${names}) on its own values:`
    : `### Functions you must use\nThe functions below are already defined. Your \`f\` must call every one of them (${names}) on values it computes itself — not simply return one of their results. Do not redefine them.`;
  return [intro, ...composites.map((c) => fence("python", c))].join("\n");
}

/** Task text for a deduction / abduction / error proposer (§3.2); `composites` only with composite functions on. */
export function tripletProposerTask(type: "deduction" | "abduction" | "error", refs: readonly ReferenceTask[], o: ProposerOptions, composites: readonly string[] = []): string {
  const composite = compositeSection(composites, o.variant);
  const banned = o.bannedWords.join(", ");
  const errorRule = type === "error" && o.bannedErrorKeywords?.length
    ? `\n- The program may fail on its input, but only through ordinary operations: do not use ${o.bannedErrorKeywords.map((w) => `\`${w}\``).join(", ")}.`
    : "";
  if (o.variant === "compact") {
    return [
      `Write a new Python function f and one input for it. The reader will see ${whatTheSubjectSees(type)}.`,
      `Rules: f takes at least one argument, returns a value, is deterministic, and uses none of: ${banned}.${errorRule}`,
      functionRule(o).slice(2),
      "Answer with the code in a ```python block, then the input in a ```input block.",
      composite,
      refs.length ? "Examples:\n" + referenceBlocks(refs) : "",
    ].filter(Boolean).join("\n");
  }
  const title = o.rejectMultipleFunctions
    ? "## Task: write a new Python function and one input for it"
    : "## Task: write a new Python snippet (custom classes may be defined at the top) and one input for it";
  return [
    title,
    "",
    "Study the reference snippets below, then design a new one that is unlike any of them and that " +
      "demands real algorithmic thinking to understand. Think of it as a puzzle in an intelligence test: " +
      `the person taking the test will be given ${whatTheSubjectSees(type)}. The puzzle should reward ` +
      "patient, multi-step reasoning rather than recall.",
    "",
    "### Requirements for the code",
    functionRule(o),
    "- `f` takes at least one parameter and returns a value.",
    "- Same input, same output, every time: no randomness, no dates or clocks, no file or network access, no printing or logging, no global or external state.",
    "- Understanding it should require keeping track of state over several steps (loops, accumulators, changing data structures).",
    `- It must finish well within ${o.timeoutSeconds} seconds.`,
    "- Put any imports and class definitions at the top, before `f`." + errorRule,
    "",
    "### Requirements for the input",
    "- Give exactly one input: the arguments of a single call to `f`.",
    "- Separate the arguments with commas, as in a call; quote every string.",
    "",
    "### Answer format",
    "Put the code in a ```python block and the input right after it in a ```input block. For example:",
    fence("python", EXAMPLE_PROGRAM),
    fence("input", EXAMPLE_INPUT),
    "",
    "### How the snippet is judged",
    "- It runs: the code executes without error on the input" + (type === "error" ? " (or fails only in the ordinary way you intend)." : "."),
    difficultyRule(type),
    "- It is new: clearly different from every reference below.",
    `- It avoids these banned words and modules entirely: ${banned}.`,
    "",
    "Before writing, plan: say what will make the puzzle hard and how it differs from the references. Then write the snippet and its input.",
    "",
    ...(composite ? [composite, ""] : []),
    "### Reference snippets",
    referenceBlocks(refs),
  ].join("\n");
}

/** Task text for an induction proposer: N inputs and a message for a given program (§3.2). */
export function inductionProposerTask(program: string, o: ProposerOptions): string {
  const call = "f(<|YOUR INPUT WILL BE PLUGGED HERE|>)";
  if (o.variant === "compact") {
    return [
      `Write ${o.nInputs} different inputs for the function below, and a message hinting at what it does (never the code itself).`,
      `Put each input in its own \`\`\`input block and the message in a \`\`\`message block.`,
      fence("python", program),
      call,
    ].join("\n");
  }
  return [
    `## Task: write ${o.nInputs} inputs for the snippet below, chosen so its outputs vary widely, plus a message`,
    "",
    "Part of your inputs, together with the outputs they produce, will be shown to a test subject who " +
      "never sees the code and must work out the function from those examples. Your message is shown too " +
      "and may help them along.",
    "",
    "### Requirements for the inputs",
    `- Give ${o.nInputs} inputs, each in its own \`\`\`input block.`,
    "- Each input is the arguments of one call to `f`, separated by commas; quote every string.",
    "",
    "### Requirements for the message",
    "- Put it in one ```message block.",
    "- Any form works: a hint, a description, even a coding question — but never the code itself.",
    "",
    "### How the inputs are judged",
    "- Every input runs without error.",
    "- Together they cover the interesting corners of the input space.",
    "- No two inputs are the same.",
    difficultyRule("induction"),
    "",
    "### The snippet",
    fence("python", program),
    "It will be called as:",
    call,
  ].join("\n");
}

// ------------------------------------------------------------------ solver prompts
export interface IoPair {
  input: string;
  output: string;
}

export function deductionSolverTask(program: string, input: string, variant: PromptVariant): string {
  if (variant === "compact") {
    return ["Predict the output of f on the input. Answer in a ```output block.", fence("python", program), fence("input", input)].join("\n");
  }
  return [
    "## Task: predict the output of the code on the given input",
    "",
    "Trace the code step by step and give the exact value `f` returns. Write it in a ```output block as a " +
      "Python value: quote strings, and write several returned values as a tuple.",
    "",
    "### Code",
    fence("python", program),
    "",
    "### Input",
    fence("input", input),
    "",
    "### Example answer",
    fence("output", "[('pe', 9), ('pl', 4), ('fi', 3)]"),
  ].join("\n");
}

export function abductionSolverTask(program: string, output: string, variant: PromptVariant): string {
  if (variant === "compact") {
    return ["Give one input for which f returns the output. Answer in a ```input block.", fence("python", program), fence("output", output)].join("\n");
  }
  return [
    "## Task: find an input for which the code returns the given output",
    "",
    "Reason step by step about what the code does, then give one input that makes `f` return exactly this output. " +
      "Any input that works is accepted.",
    "",
    "### Code",
    fence("python", program),
    "",
    "### Output",
    fence("output", output),
    "",
    "### Answer format",
    "Write the arguments of the call in a ```input block, separated by commas; quote every string.",
    "",
    "### Example answer",
    fence("input", EXAMPLE_INPUT),
  ].join("\n");
}

export function inductionSolverTask(shown: readonly IoPair[], message: string, o: { variant: PromptVariant; rejectMultipleFunctions: boolean }): string {
  const pairs = shown.map((p, i) => `${fence(`input_${i}`, p.input)}\n${fence(`output_${i}`, p.output)}`).join("\n");
  if (o.variant === "compact") {
    return ["Write a Python function f that maps each input to its output. Answer in a ```python block.", pairs, fence("message", message)].join("\n");
  }
  return [
    "## Task: work out the function from input/output examples",
    "",
    "Below are inputs of a hidden function `f`, the outputs it returned, and a message about it. Reason about " +
      "what `f` must be, check your idea against every pair, and revise it until all of them fit. The last " +
      "```python block of your answer is the one that will be run, on other inputs as well.",
    "",
    "### Requirements for the code",
    o.rejectMultipleFunctions
      ? "- Write exactly one function, named `f`: no helpers, no nested functions, no classes with methods."
      : "- The entry point is a function named `f`; helpers nested inside it and classes at the top are fine.",
    "- `f` takes at least one parameter and returns a value.",
    "- Same input, same output: no randomness, clocks, file or network access, printing or external state.",
    "- It must finish within a few seconds on each input.",
    "- Put any imports at the top.",
    "",
    "### Examples",
    pairs,
    "",
    "### Message",
    fence("message", message),
    "",
    "### Example answer",
    fence("python", "def f(a):\n    return a"),
  ].join("\n");
}

export function errorSolverTask(program: string, input: string, variant: PromptVariant): string {
  if (variant === "compact") {
    return ["Name the exception f raises on the input, or NoError. Answer in a ```output block.", fence("python", program), fence("input", input)].join("\n");
  }
  return [
    "## Task: predict whether the code fails on the input",
    "",
    "Trace the code on the input. If it raises an exception, give the exception's type name (for example `KeyError`); " +
      "if it finishes normally, give `NoError`. Write the name alone in a ```output block.",
    "",
    "### Code",
    fence("python", program),
    "",
    "### Input",
    fence("input", input),
    "",
    "### Example answer",
    fence("output", "IndexError"),
  ].join("\n");
}

/** What a solver is shown, per task type. */
export type SolverTask =
  | { type: "deduction"; program: string; input: string }
  | { type: "abduction"; program: string; output: string }
  | { type: "induction"; shown: IoPair[]; message: string }
  | { type: "error"; program: string; input: string };

export interface SolverOptions extends WrapOptions {
  rejectMultipleFunctions: boolean;
}

/** The full solver prompt for one task. */
export function solverPrompt(task: SolverTask, o: SolverOptions): Prompt {
  switch (task.type) {
    case "deduction": return wrapPrompt(deductionSolverTask(task.program, task.input, o.variant), o);
    case "abduction": return wrapPrompt(abductionSolverTask(task.program, task.output, o.variant), o);
    case "induction": return wrapPrompt(inductionSolverTask(task.shown, task.message, o), o);
    case "error": return wrapPrompt(errorSolverTask(task.program, task.input, o.variant), o);
  }
}

/** What a proposer is shown, per task type. */
export type ProposerInput =
  | { type: "deduction" | "abduction" | "error"; references: ReferenceTask[]; composites?: string[] }
  | { type: "induction"; program: string };

/**
 * The recipe fields proposer prompts read (a Recipe satisfies it structurally; declared here so
 * actors/ can build prompts without depending on recipes/).
 */
export interface ProposerSettings {
  prompt: { variant: PromptVariant; chatTemplate: boolean };
  validation: { bannedWords: readonly string[]; rejectMultipleFunctions: boolean; bannedErrorKeywords?: readonly string[] };
  executor: { timeoutSeconds: number };
  selfplay: { inductionInputs: number };
}

/**
 * Proposer prompt options from a recipe: one mapping, so self-play and the evaluation's proposal
 * probe show the model the same requirements.
 */
export function proposerOptions(r: ProposerSettings): ProposerOptions & { chatTemplate: boolean } {
  return {
    variant: r.prompt.variant, chatTemplate: r.prompt.chatTemplate, bannedWords: r.validation.bannedWords,
    rejectMultipleFunctions: r.validation.rejectMultipleFunctions, timeoutSeconds: r.executor.timeoutSeconds,
    nInputs: r.selfplay.inductionInputs, bannedErrorKeywords: r.validation.bannedErrorKeywords,
  };
}

/** The full proposer prompt. */
export function proposerPrompt(input: ProposerInput, o: ProposerOptions & { chatTemplate: boolean }): Prompt {
  const task = input.type === "induction" ? inductionProposerTask(input.program, o) : tripletProposerTask(input.type, input.references, o, input.composites);
  return wrapPrompt(task, o);
}

/** Induction split (§4.4): the first ⌊N/2⌋ pairs are shown, the rest are hidden for checking. */
export function splitInductionPairs<T>(pairs: readonly T[]): { shown: T[]; hidden: T[] } {
  const k = Math.floor(pairs.length / 2);
  return { shown: pairs.slice(0, k), hidden: pairs.slice(k) };
}

/** Plain text of a prompt (for logs and length estimates); chat prompts are shown role by role. */
export function promptText(p: Prompt): string {
  return p.kind === "text" ? p.text : p.messages.map((m) => `[${m.role}] ${m.content}`).join("\n") + `\n[assistant] ${p.assistantPrefill}`;
}
