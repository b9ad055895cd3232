/** Test helpers for the code executor: one real executor per file, and one-shot calls. */
import { after, before } from "node:test";
import { CodeExecutor, type AnswerCheck, type ExecutionMode, type ExecutorOptions, type IndexedAnswerVerdict, type ProposalCheck, type ProposalVerdict } from "../../actors/code-executor/index.ts";

/** Starts a real executor (bubblewrap + Python) before the file's tests, closes it after. */
export function useExecutor(opts: Partial<ExecutorOptions> = {}): { readonly ex: CodeExecutor } {
  let ex: CodeExecutor | undefined;
  before(async () => {
    ex = await CodeExecutor.start({ workers: 2, ...opts });
  });
  after(async () => {
    await ex?.close();
  });
  return {
    get ex() {
      if (!ex) throw new Error("executor not started yet: use it inside a test");
      return ex;
    },
  };
}

/** All verdicts of a batch, in input order. */
export async function validateAll(ex: CodeExecutor, batch: ProposalCheck[]): Promise<ProposalVerdict[]> {
  const out: ProposalVerdict[] = [];
  for await (const v of ex.validateProposals(batch)) out[v.index] = v;
  return out;
}

/** Each check's verdict from a fresh one-worker executor, one check at a time: every task runs on
 * that worker after every task before it (what an earlier task may leave behind is seen). */
export async function validateOneByOne(mode: ExecutionMode, batch: ProposalCheck[]): Promise<ProposalVerdict[]> {
  const ex = await CodeExecutor.start({ mode, workers: 1, warn: () => {} });
  try {
    const out: ProposalVerdict[] = [];
    for (const c of batch) out.push((await validateAll(ex, [c]))[0]);
    return out;
  } finally {
    await ex.close();
  }
}

export async function checkAll(ex: CodeExecutor, batch: AnswerCheck[], inductionMode?: "binary" | "accuracy" | "any"): Promise<IndexedAnswerVerdict[]> {
  const out: IndexedAnswerVerdict[] = [];
  for await (const v of ex.checkAnswers(batch, { inductionMode })) out[v.index] = v;
  return out;
}

export const triplet = (program: string, input: string): ProposalCheck => ({ type: "deduction", program, input });
