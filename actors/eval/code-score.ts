/**
 * Scoring programs on HumanEval+ / MBPP+ with EvalPlus's rule, in the sandbox.
 *
 * Covers: the expected outputs (the canonical solution run on every base and plus input, in the
 * sandbox, with each call's time), cached on disk per benchmark file; each test's time limit,
 * max(10 s, 8 × the reference call's time) (spec §10); a verdict per program: pass only if
 * every base test and every plus test passes, else the first failure with its cause (wrong,
 * raise, timeout, crashed, type, load). Not: generation, extraction (code-bench.ts).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CodeProblem } from "./code-bench.ts";
import { EvalWorkerPool } from "./worker-pool.ts";

export const MIN_TEST_LIMIT_MS = 10_000;
export const REFERENCE_FACTOR = 8;
/** The canonical solution's own calls get this long each (it is trusted to finish). */
const REFERENCE_LIMIT_MS = 120_000;

export interface GroundTruth {
  /** marshal bytes of the output list, base64 (only Python reads them). */
  outputs: string;
  timesMs: number[];
}

export type CodeFailure = "no-program" | "wrong" | "raise" | "timeout" | "crashed" | "type" | "load";

export interface CodeVerdict {
  pass: boolean;
  /** Why it failed, and the failing test ("base" or "plus" and its index). */
  why?: CodeFailure;
  part?: "base" | "plus";
  test?: number;
  detail?: string;
}

export interface CodeScorerOptions {
  workers: number;
  /** Where expected outputs are cached, one file per problem (default ~/.cache/azr/eval/code); null: no cache. */
  cacheDir?: string | null;
  /** Lowest per-test limit (spec: 10 s); tests may lower it to check hangs quickly. */
  minTestLimitMs?: number;
  bubblewrap?: boolean;
}

export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "azr", "eval", "code");
}

function problemKey(p: CodeProblem): string {
  return createHash("sha256").update(JSON.stringify([p.id, p.canonical, p.inputs, p.tupleArgs, p.oracle ?? ""])).digest("hex").slice(0, 24);
}

export class CodeScorer {
  private readonly truths = new Map<string, GroundTruth>();
  private readonly cacheDir: string | null;

  private constructor(readonly pool: EvalWorkerPool, private readonly o: CodeScorerOptions) {
    this.cacheDir = o.cacheDir === undefined ? defaultCacheDir() : o.cacheDir;
  }

  /** One file per problem: a single JSON of all 542 would pass V8's longest string. */
  private cached(key: string): GroundTruth | undefined {
    if (!this.cacheDir) return undefined;
    const file = join(this.cacheDir, `${key}.json`);
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, "utf8")) as GroundTruth;
    } catch {
      return undefined; // a broken entry is made again
    }
  }

  private store(key: string, gt: GroundTruth): void {
    if (!this.cacheDir) return;
    mkdirSync(this.cacheDir, { recursive: true });
    writeFileSync(join(this.cacheDir, `${key}.json`), JSON.stringify(gt));
  }

  static async start(o: CodeScorerOptions): Promise<CodeScorer> {
    return new CodeScorer(await EvalWorkerPool.start({ workers: o.workers, bubblewrap: o.bubblewrap }), o);
  }


  /** Expected outputs and reference times (cached); throws if the canonical solution itself fails. */
  async groundTruth(p: CodeProblem): Promise<GroundTruth> {
    const key = problemKey(p);
    const hit = this.truths.get(key) ?? this.cached(key);
    if (hit) {
      this.truths.set(key, hit);
      return hit;
    }
    const n = p.inputs.nBase + p.inputs.nPlus;
    const r = await this.pool.run(
      { kind: "code", reference: true, program: p.canonical, entry: p.entry, inputsJson: [p.inputs.base, p.inputs.plus], tupleArgs: p.tupleArgs, oracle: p.oracle ?? null, limitsMs: [REFERENCE_LIMIT_MS] },
      REFERENCE_LIMIT_MS * Math.max(1, n) + 30_000,
    );
    if (!r.pass) throw new Error(`${p.id}: the canonical solution failed its own test ${r.test} (${r.why}: ${r.detail}); the benchmark file or the harness is wrong`);
    const gt = { outputs: r.outputs as string, timesMs: r.timesMs as number[] };
    this.truths.set(key, gt);
    this.store(key, gt);
    return gt;
  }

  /** Per-test limits of a problem: max(min, 8 × reference time). */
  limits(gt: GroundTruth): number[] {
    const floor = this.o.minTestLimitMs ?? MIN_TEST_LIMIT_MS;
    return gt.timesMs.map((t) => Math.max(floor, Math.ceil(REFERENCE_FACTOR * t)));
  }

  /**
   * `sanitize`: first apply EvalPlus's sanitizer to the program in the sandbox (actors/eval/eval_sanitize.py:
   * the longest parsable run of lines, then imports and the definitions the entry function
   * reaches) — what EvalPlus does to its completions before evaluating them.
   */
  async score(p: CodeProblem, program: string | undefined, opts: { sanitize?: boolean } = {}): Promise<CodeVerdict> {
    if (program === undefined) return { pass: false, why: "no-program", detail: "no ```python block in the answer" };
    const gt = await this.groundTruth(p);
    const limitsMs = this.limits(gt);
    const deadline = limitsMs.reduce((a, b) => a + b, 0) + 30_000;
    const r = await this.pool.run(
      { kind: "code", program, entry: p.entry, inputsJson: [p.inputs.base, p.inputs.plus], tupleArgs: p.tupleArgs, expected: gt.outputs, limitsMs, atol: p.atol, oracle: p.oracle ?? null, sanitize: opts.sanitize === true },
      deadline,
    );
    if (r.pass === true) return { pass: true };
    const test = typeof r.test === "number" ? r.test : -1;
    const base = p.inputs.nBase;
    const at = test < 0 ? {} : test < base ? { part: "base" as const, test } : { part: "plus" as const, test: test - base };
    return { pass: false, why: (r.why as CodeFailure) ?? "crashed", ...at, detail: String(r.detail ?? "") };
  }

  /**
   * Score many (problem, program) pairs; verdicts in input order. Scheduled heaviest first by the
   * canonical solution's measured time (longest-processing-time order): a few problems compute
   * for seconds (Mbpp/599, Mbpp/255, Mbpp/392), and one of them started last leaves every other
   * worker idle while it finishes. A failure to score one pair (its ground truth cannot be made)
   * is that pair's verdict, so one bad problem never loses the others.
   */
  async scoreMany(
    items: readonly { problem: CodeProblem; program: string | undefined; sanitize?: boolean }[],
    width: number,
    onDone?: (index: number, verdict: CodeVerdict) => void,
  ): Promise<CodeVerdict[]> {
    const cost = await mapLimit(items, width, async ({ problem }) => {
      try {
        return (await this.groundTruth(problem)).timesMs.reduce((a, b) => a + b, 0);
      } catch {
        return 0; // score() meets the same failure and reports it
      }
    });
    const order = items.map((_, i) => i).sort((a, b) => cost[b] - cost[a]);
    const out = new Array<CodeVerdict>(items.length);
    await mapLimit(order, width, async (i) => {
      const { problem, program, sanitize } = items[i];
      try {
        out[i] = await this.score(problem, program, { sanitize });
      } catch (e) {
        out[i] = { pass: false, why: "crashed", detail: (e as Error).message };
      }
      onDone?.(i, out[i]);
    });
    return out;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Run `fn` over items with at most `width` in flight; results in item order. */
export async function mapLimit<T, R>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(width, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}
