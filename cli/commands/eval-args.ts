/**
 * `azr eval`'s parsed options and its usage error, shared by the command (eval.ts) and its
 * held-out-set half (eval-tiny.ts).
 */
import type { SuiteName } from "../../actors/eval/items.ts";
import type { CodePrompt, MathTemplate } from "../../actors/eval/suites.ts";

export interface EvalArgs {
  model?: string;
  suite: SuiteName;
  engine: "ort" | "torch";
  limit?: number;
  out: string;
  selfCheck: boolean;
  data?: string;
  format?: "lcb" | "cruxeval";
  codePrompt: CodePrompt;
  mathTemplate: MathTemplate;
  chatTemplate: boolean;
  evalplusBasePrompt: boolean;
  batchSize: number;
  maxNewTokens?: number;
  workers: number;
  benchmarks?: string;
  threads?: number;
  proposals: number;
  samples: number;
  recipe: string;
  compare?: string;
}

/** The user's to fix (a flag, a path): printed without a stack, exit status 2. */
export class EvalUsageError extends Error {
  override name = "EvalUsageError";
}

/** The per-problem records beside --out (`<out>.problems.jsonl`). */
export const recordFileOf = (out: string) => out.replace(/\.json$/, "") + ".problems.jsonl";
