/**
 * Suites as lists of scored items: prompts (the R1 wrapper of spec §3.1 for code and math, the
 * EvalPlus completion prompt as an option, the solver prompts for executor tasks) and the
 * scoring closure of each problem.
 *
 * Covers: `code` (HumanEval+, MBPP+), `math` (the six sets), executor tasks (CruxEval,
 * LCB-Execution, the tiny held-out set). Not: LiveCodeBench code generation (lcb-score.ts;
 * the CLI builds its items), running (runner.ts).
 */
import { r1Preamble, solverPrompt, wrapPrompt, type Prompt } from "../../azr/prompts.ts";
import { readSolver } from "../../azr/responses.ts";
import { TextTokenizer } from "../../model/tokenizer.ts";
import type { AnswerCheck, IndexedAnswerVerdict } from "../code-executor/index.ts";
import { evalplusChatPrompt, evalplusPrompt, extractProgram, type CodeProblem } from "./code-bench.ts";
import type { CodeScorer } from "./code-score.ts";
import type { ExecProblem } from "./file-bench.ts";
import { extractMathAnswer } from "./math-answer.ts";
import type { MathProblem } from "./math-bench.ts";
import type { MathJudge } from "./math-equiv.ts";
import type { SuiteItem } from "./runner.ts";

export type CodePrompt = "r1" | "evalplus";

/** What scoring executor tasks needs: the code executor in-process, or a run's code-executor actor. */
export interface AnswerChecker {
  checkAnswers(checks: AnswerCheck[]): AsyncIterable<IndexedAnswerVerdict>;
}
export type MathTemplate = "azr" | "azr_boxed";

export interface PromptOptions {
  codePrompt: CodePrompt;
  mathTemplate: MathTemplate;
  chatTemplate: boolean;
  /**
   * With codePrompt "evalplus": EvalPlus's chat prompt instead of its base (completion) prompt.
   * EvalPlus picks it from the model, not from a flag: the chat prompt whenever the tokenizer has
   * a chat template, unless told --force-base-prompt ({@link evalplusUsesChat}). Unset: follows
   * chatTemplate.
   */
  evalplusChat?: boolean;
  /** Overrides every suite's default new-token budget. */
  maxNewTokens?: number;
}

/** New-token budgets of spec §10 (R1 code: the LCB figure; EvalPlus prompt: its own 768). */
export const DEFAULT_MAX_NEW = { code: 8096, evalplus: 768, math: 16_000, exec: 8096 } as const;

export function codeTask(p: CodeProblem): string {
  const lead = p.benchmark === "humaneval+"
    ? "Complete the Python function below so that it does what its docstring says."
    : "Write a Python function for the task below; the assert shows its name and how it is called.";
  return `${lead} Reply with the whole program (imports included) in one \`\`\`python block inside your answer.\n\n\`\`\`python\n${p.prompt.trim()}\n\`\`\``;
}

/** Whether a model gets EvalPlus's chat prompt, as EvalPlus decides: its tokenizer has a chat template and the base prompt is not forced. */
export function evalplusUsesChat(modelDir: string, forceBasePrompt = false): boolean {
  return !forceBasePrompt && TextTokenizer.fromDir(modelDir).hasChatTemplate;
}

const evalplusChat = (o: PromptOptions) => o.evalplusChat ?? o.chatTemplate;

export function codePromptFor(p: CodeProblem, o: PromptOptions): Prompt {
  if (o.codePrompt === "evalplus" && evalplusChat(o)) {
    const { user, assistantPrefill } = evalplusChatPrompt(p);
    return { kind: "chat", messages: [{ role: "user", content: user }], assistantPrefill };
  }
  if (o.codePrompt === "evalplus") return { kind: "text", text: evalplusPrompt(p) };
  return wrapPrompt(codeTask(p), { variant: "full", chatTemplate: o.chatTemplate });
}

/** Math: the R1 wrapper ending at `Assistant:` (spec §10), optionally asking for \boxed{}. */
export function mathPromptFor(p: MathProblem, o: PromptOptions): Prompt {
  const ask = o.mathTemplate === "azr_boxed" ? " Put the final answer inside \\boxed{}." : "";
  if (o.chatTemplate) return { kind: "chat", messages: [{ role: "system", content: r1Preamble("full") }, { role: "user", content: p.question + ask }], assistantPrefill: "" };
  return { kind: "text", text: `${r1Preamble("full")}\nUser: ${p.question}${ask}\nAssistant:` };
}

export function codeItems(problems: readonly CodeProblem[], scorer: CodeScorer, o: PromptOptions): SuiteItem[] {
  return problems.map((p) => ({
    benchmark: p.benchmark,
    id: p.id,
    prompt: codePromptFor(p, o),
    maxNewTokens: o.maxNewTokens ?? (o.codePrompt === "evalplus" ? DEFAULT_MAX_NEW.evalplus : DEFAULT_MAX_NEW.code),
    score: async (response) => {
      // EvalPlus sanitizes its completions before evaluating them; the R1 protocol takes the answer's block as is
      const v = await scorer.score(p, extractProgram(response, p, o.codePrompt, o.codePrompt === "evalplus" ? evalplusChat(o) : o.chatTemplate), { sanitize: o.codePrompt === "evalplus" });
      return { correct: v.pass, detail: v.pass ? undefined : `${v.why}${v.part ? ` (${v.part} test ${v.test})` : ""}: ${v.detail ?? ""}`.slice(0, 300) };
    },
  }));
}

export function mathItems(problems: readonly MathProblem[], judge: MathJudge, o: PromptOptions): SuiteItem[] {
  return problems.map((p) => ({
    benchmark: p.benchmark,
    id: p.id,
    prompt: mathPromptFor(p, o),
    maxNewTokens: o.maxNewTokens ?? DEFAULT_MAX_NEW.math,
    score: async (response) => {
      const answer = extractMathAnswer(response);
      const v = await judge.equivalent(answer, p.gold, { units: p.units });
      return { correct: v.equal, detail: v.equal ? undefined : `${v.how}: ${JSON.stringify(answer.slice(0, 80))} vs ${JSON.stringify(p.gold)}` };
    },
  }));
}

/** The solver prompt of an executor task: compact for the tiny model, the full one otherwise. */
export function execPrompt(p: ExecProblem, o: Pick<PromptOptions, "chatTemplate">): Prompt {
  return solverPrompt(p.prompt, { variant: p.benchmark === "tiny" ? "compact" : "full", chatTemplate: o.chatTemplate, rejectMultipleFunctions: true });
}

/** A response to an executor task: the answer read from it (none: no answer block) and the executor's verdict. */
export async function checkExecResponse(executor: AnswerChecker, p: ExecProblem, response: string): Promise<{ answer?: string; correct: boolean; detail?: string }> {
  const { answer } = readSolver(p.check.type, response, { formatCheck: false });
  if (answer === undefined) return { correct: false, detail: "no answer" };
  for await (const v of executor.checkAnswers([{ task: p.check, answer }])) {
    return { answer, correct: v.score === 1, detail: v.score === 1 ? undefined : `${v.reason}: ${v.message ?? ""}`.slice(0, 300) };
  }
  return { answer, correct: false, detail: "no verdict" };
}

/** Executor tasks, answered with the compact solver prompt for the tiny model, the full one otherwise. */
export function execItems(problems: readonly ExecProblem[], executor: AnswerChecker, o: PromptOptions): SuiteItem[] {
  return problems.map((p) => ({
    benchmark: p.benchmark,
    id: p.id,
    prompt: execPrompt(p, o),
    maxNewTokens: o.maxNewTokens ?? DEFAULT_MAX_NEW.exec,
    score: async (response) => {
      const { correct, detail } = await checkExecResponse(executor, p, response);
      return { correct, detail };
    },
  }));
}
