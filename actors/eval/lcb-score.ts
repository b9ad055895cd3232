/**
 * LiveCodeBench code generation: the R1 prompt (question, starter code, format), the program
 * from the answer, and scoring against every public and private test in the sandbox, 60 s per
 * test (spec §10); a sample passes only if all pass.
 *
 * Covers: stdin tests (whole program, stdin in, stdout compared line by line, numbers to 1e-6)
 * and functional tests (`Solution().<func_name>(*args)`, one JSON value per input line, JSON
 * output compared with ==). Not: the loader (file-bench.ts).
 */
import { extractAnswer } from "../../azr/answer.ts";
import { lastPythonBlock } from "./code-bench.ts";
import { wrapPrompt, type Prompt } from "../../azr/prompts.ts";
import type { LcbProblem } from "./file-bench.ts";
import type { EvalWorkerPool } from "./worker-pool.ts";

export const LCB_TEST_LIMIT_MS = 60_000;

export function lcbPrompt(p: LcbProblem, chatTemplate: boolean): Prompt {
  const how = p.starterCode.trim()
    ? `Complete this starter code; your class and method names must stay as given:\n\`\`\`python\n${p.starterCode.trim()}\n\`\`\``
    : "Read the input from standard input and write the answer to standard output.";
  const task = `Solve this programming problem in Python.\n\n${p.question.trim()}\n\n${how}\n\nReply with the whole program in one \`\`\`python block inside your answer.`;
  return wrapPrompt(task, { variant: "full", chatTemplate });
}

export function lcbProgram(response: string): string | undefined {
  const code = lastPythonBlock(extractAnswer(response));
  return code && code.trim() ? code : undefined;
}

export async function scoreLcb(pool: EvalWorkerPool, p: LcbProblem, program: string | undefined, limitMs = LCB_TEST_LIMIT_MS): Promise<{ pass: boolean; detail?: string }> {
  if (program === undefined) return { pass: false, detail: "no ```python block in the answer" };
  if (p.tests.length === 0) return { pass: false, detail: "the problem has no tests" };
  const r = await pool.run({ kind: "lcb", program, tests: p.tests, funcName: p.funcName ?? null, limitMs }, limitMs * p.tests.length + 30_000);
  return r.pass === true ? { pass: true } : { pass: false, detail: `${r.why} (test ${r.test}): ${r.detail ?? ""}`.slice(0, 300) };
}
