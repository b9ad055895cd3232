/**
 * The code executor's public API: validate proposals and check answers under Absolute Zero's
 * rules, streaming verdicts as they finish, with per-call statistics.
 *
 * Covers: options and defaults (azr-spec §5.3–5.4: timeout 10 s, 1,024 MB, 400 output chars,
 * two determinism runs, hash seed 0, the reference ban list), the isolation check at start
 * (refuses to run without memory and CPU limits, warns loudly with less than full isolation),
 * turning proposals and answers into jobs and observations into verdicts. Not: the actor
 * wrapper (actor.ts), the sandbox details (sandbox.ts, worker.py and azr_worker/).
 */
import { availableParallelism } from "node:os";
import type { PythonChoice } from "../../model/python.ts";
import { findPython } from "../../model/python.ts";
import type { PyValue } from "../../azr/literal.ts";
import { WorkerPool, type Outcome } from "./pool.ts";
import type { Job } from "./protocol.ts";
import { bubblewrapUsable, describeIsolation, IsolationError, type IsolationReport } from "./sandbox.ts";
import {
  inputVerdict, judgeAbduction, judgeDeduction, judgeHashSeed, judgeInduction, judgeValidation, pairFailure, perInput, wrong,
  type AnswerVerdict, type InductionMode, type SolverTask, type Verdict,
} from "./verdicts.ts";

/** The reference's ban list (azr-spec §5.3 check 2, `validation.bannedWords`). */
export const DEFAULT_BANNED_WORDS: readonly string[] = [
  "logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime", "time",
  "hashlib", "hmac", "bcrypt", "os.sys", "os.path", "sys.exit", "os.environ", "calendar",
];

export interface ExecutorLimits {
  /** Wall clock per task, both determinism calls included (`executor.timeoutSeconds` × 1000). */
  timeoutMs: number;
  /** Address-space limit per worker process (`executor.memoryMB`). */
  memoryMB: number;
  /** Longest accepted output repr (`validation.maxOutputChars`). */
  maxOutputChars: number;
}

export const DEFAULT_LIMITS: ExecutorLimits = { timeoutMs: 10_000, memoryMB: 1024, maxOutputChars: 400 };

export type ExecutionMode = "pooled" | "strict";

export interface ExecutorOptions {
  /** `pooled` (default): tasks run in long-lived workers; `strict`: a forked child per task. */
  mode: ExecutionMode;
  /** Worker processes (default: one per core). */
  workers: number;
  limits: Partial<ExecutorLimits>;
  bannedWords: readonly string[];
  /** `validation.determinismRuns` (the paper's j = 2). */
  determinismRuns: number;
  /** `executor.hashSeed`: PYTHONHASHSEED of every worker. */
  hashSeed: number;
  /** `validation.hashSeedCheck`: also run valid proposals under hashSeed + 1. */
  hashSeedCheck: boolean;
  /** Run without bubblewrap when it cannot work here (loudly); false → refuse instead. */
  allowPartialIsolation: boolean;
  python: PythonChoice;
  /** Jobs in flight per worker. */
  inflightPerWorker: number;
  /** `executor.infraRetries`: runs of a job again after its worker died under it, before it counts as a crash (default: the pool's, 2). */
  infraRetries?: number;
  /** Where loud isolation warnings go (default console.warn). */
  warn: (message: string) => void;
}

export type ProposalCheck =
  | { type: "deduction" | "abduction"; program: string; input: string }
  | {
    type: "induction"; program: string; inputs: string[];
    /**
     * Apply the ban list to the program too (§5.3 check 2). Off for self-play's induction
     * proposals, whose program came out of a triplet buffer and passed the list there (§5.3:
     * "the ban list was already enforced when the program entered the buffer"); on for a seed
     * file's induction entries, whose programs never passed it (§4.2 re-validates with checks 1–7).
     */
    checkBans?: boolean;
  };

export type ProposalVerdict = Verdict & {
  index: number;
  /** Wall time of the task inside its worker (checks, both calls, integrity check), ms. */
  ms?: number;
  /** repr of f(input) for each input (one for deduction/abduction), when valid. */
  outputs?: string[];
};

export interface AnswerCheck {
  task: SolverTask;
  /** The extracted answer: a literal (deduction), an argument list (abduction), a program (induction). */
  answer: string;
}

export type IndexedAnswerVerdict = AnswerVerdict & { index: number };

export interface CallStats {
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  byReason: Record<string, number>;
  /** Tasks whose in-process run was replaced by a strict re-run. */
  rerunStrict: number;
  /** Worker replacements during this call, by why. */
  workersReplaced: Record<string, number>;
}

/** An async iterable of verdicts in completion order, with statistics once it is drained. */
export interface VerdictStream<T> extends AsyncIterable<T> {
  stats(): CallStats;
}

export interface ExecutorStats {
  mode: ExecutionMode;
  workers: number;
  workersStarted: number;
  tasks: number;
  byReason: Record<string, number>;
  workersReplaced: Record<string, number>;
  /** uids the workers ran as (to look for stray processes after close). */
  workerUids: number[];
  isolation: IsolationReport;
}

let nextJobId = 1;

export class CodeExecutor {
  private readonly totals = { tasks: 0, byReason: new Map<string, number>() };
  private altPool: WorkerPool | undefined;

  private constructor(
    readonly options: ExecutorOptions,
    readonly limits: ExecutorLimits,
    readonly isolation: IsolationReport,
    private readonly pool: WorkerPool,
  ) {}

  static async start(opts: Partial<ExecutorOptions> = {}): Promise<CodeExecutor> {
    const o: ExecutorOptions = {
      mode: "pooled",
      workers: availableParallelism(),
      limits: {},
      bannedWords: DEFAULT_BANNED_WORDS,
      determinismRuns: 2,
      hashSeed: 0,
      hashSeedCheck: false,
      allowPartialIsolation: true,
      python: findPython(),
      inflightPerWorker: 32, // deep enough that a descheduled parent does not starve a worker
      warn: (m) => console.warn(m),
      ...opts,
    };
    o.bannedWords = Object.freeze([...o.bannedWords]); // every job shares this one array
    if (o.mode !== "pooled" && o.mode !== "strict") throw new Error(`executor mode '${String(o.mode)}' is not pooled or strict`);
    const limits = { ...DEFAULT_LIMITS, ...o.limits };
    const bw = bubblewrapUsable(o.python.path);
    if (!bw.ok && !o.allowPartialIsolation) throw new IsolationError(`refusing to run model code without the sandbox: ${bw.why}`);
    const pool = new WorkerPool({ size: o.workers, memoryMB: limits.memoryMB, inflight: o.inflightPerWorker, infraRetries: o.infraRetries, sandbox: { python: o.python, hashSeed: o.hashSeed, bubblewrap: bw.ok } });
    await pool.start();
    const ready = pool.firstReady!;
    const isolation = isolationFrom(bw, ready.limits, o.python);
    if (!isolation.limits.memoryBytes || !isolation.limits.cpu) {
      await pool.close();
      throw new IsolationError(`refusing to run model code without resource limits (${ready.limits.as_error ?? "no address-space limit"}); check ulimit -Hv / the container's rlimits`);
    }
    if (isolation.level !== "full") {
      const bar = "!".repeat(78);
      o.warn(`${bar}\n${describeIsolation(isolation)}\n${isolation.warnings.map((w) => `  - ${w}`).join("\n")}\n${bar}`);
    }
    return new CodeExecutor(o, limits, isolation, pool);
  }

  /** Checks 1–7 of azr-spec §5.3 for each proposal; verdicts stream as they finish. */
  validateProposals(batch: readonly ProposalCheck[]): VerdictStream<ProposalVerdict> {
    return this.stream(batch.map((p, index) => this.validateOne(p, index)), (v) => v.reason);
  }

  /** Judge solver answers per task type (azr-spec §6.2); verdicts stream as they finish. */
  checkAnswers(batch: readonly AnswerCheck[], opts: { inductionMode?: InductionMode } = {}): VerdictStream<IndexedAnswerVerdict> {
    const mode = opts.inductionMode ?? "binary";
    return this.stream(batch.map((a, index) => this.checkOne(a, index, mode)), (v) => v.reason);
  }

  stats(): ExecutorStats {
    return {
      mode: this.options.mode,
      workers: this.options.workers,
      workersStarted: this.pool.workersStarted,
      tasks: this.totals.tasks,
      byReason: Object.fromEntries(this.totals.byReason),
      workersReplaced: Object.fromEntries(this.pool.replaced),
      workerUids: [...this.pool.uids, ...(this.altPool?.uids ?? [])],
      isolation: this.isolation,
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.altPool?.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- internals
  private job(code: string, calls: string[], runs: number, banned: readonly string[], extra: Partial<Job> = {}): Job {
    return {
      id: nextJobId++,
      code,
      calls,
      runs,
      banned, // shared, never mutated: one array for every job of the executor
      maxOutputChars: this.limits.maxOutputChars,
      timeoutMs: this.limits.timeoutMs,
      strict: this.options.mode === "strict",
      ...extra,
    };
  }

  private async validateOne(p: ProposalCheck, index: number): Promise<{ v: ProposalVerdict; rerun: boolean }> {
    const inputs = p.type === "induction" ? p.inputs : [p.input];
    for (const [i, input] of inputs.entries()) {
      const bad = inputVerdict(input);
      if (bad) return { v: { ...bad, message: inputs.length > 1 ? `input ${i + 1}: ${bad.message}` : bad.message, index }, rerun: false };
    }
    // The ban list is a rule for new programs; an induction proposal reuses a buffer program
    // (unless the caller says its program is new: a seed file's, `checkBans`).
    const banned = p.type === "induction" && !p.checkBans ? [] : this.options.bannedWords;
    // One task per input (azr-spec §5.3: checks 3–7 "on each of them", each call in a fresh task
    // context; §5.4: the timeout is per execution): inputs of one induction proposal share no
    // module state and no time budget. The first failing input, in input order, is the verdict, so
    // they run in that order and stop there: a program that loops costs one time limit, not one
    // per input (the batch's other proposals keep the workers busy meanwhile).
    const o = { timeoutMs: this.limits.timeoutMs, maxOutputChars: this.limits.maxOutputChars, calls: 1 };
    const runs = await inTurnUntilFailure(inputs, (input) => this.pool.run(this.job(p.program, [input], this.options.determinismRuns, banned)),
      (_, run) => !("outputs" in judgeValidation(run.obs, o)));
    const rerun = runs.some((r) => r.rerunStrict);
    const ms = runs.reduce<number | undefined>((sum, r) => (r.obs.wallMs === undefined ? sum : (sum ?? 0) + r.obs.wallMs), undefined);
    const outputs: string[] = [];
    const values: PyValue[] = [];
    for (const [i, run] of runs.entries()) {
      const r = judgeValidation(run.obs, o);
      if (!("outputs" in r)) return { v: { ...r, message: inputs.length > 1 ? perInput(r, `input ${i + 1}`) : r.message, index, ms }, rerun };
      outputs.push(r.outputs[0]);
      values.push(r.values[0]);
    }
    if (this.options.hashSeedCheck) {
      const alt = await this.alternatePool();
      const second = await Promise.all(inputs.map((input) => alt.run(this.job(p.program, [input], 1, banned))));
      const bad = judgeHashSeed(values, second.map((s) => s.obs), o);
      if (bad) return { v: { ...bad, index, ms }, rerun };
    }
    return { v: { ok: true, reason: "valid", message: `valid; output ${outputs[0]?.slice(0, 60) ?? ""}`, outputs, index, ms }, rerun };
  }

  private async checkOne(a: AnswerCheck, index: number, mode: InductionMode): Promise<{ v: IndexedAnswerVerdict; rerun: boolean }> {
    const t = a.task;
    const o = { timeoutMs: this.limits.timeoutMs, maxOutputChars: this.limits.maxOutputChars };
    if (t.type === "deduction") return { v: { ...judgeDeduction(t, a.answer), index }, rerun: false };
    if (t.type === "abduction") {
      const bad = inputVerdict(a.answer);
      if (bad) return { v: { ...wrong("answer not a literal", bad.message), index }, rerun: false };
      const out = await this.pool.run(this.job(t.program, [a.answer], 1, []));
      return { v: { ...judgeAbduction(t, out.obs, o), index }, rerun: out.rerunStrict };
    }
    // One task per hidden input, as in validation: a fresh context and a full time budget each,
    // so `accuracy` and `any` count every pair that passes.
    const prelude = t.imports.join("\n");
    const run = (input: string) => this.pool.run(this.job(a.answer, [input], 1, this.options.bannedWords, { prelude }));
    if (mode === "binary") {
      // One failing pair makes the score 0, so the pairs run in turn and stop at the first that fails:
      // a program that loops costs one time limit, not one per pair (the batch's other answers keep
      // the workers busy meanwhile).
      const outs = await inTurnUntilFailure(t.hidden, (h) => run(h.input), (h, out) => pairFailure(h, out.obs, o) !== undefined);
      return { v: { ...judgeInduction(t, outs.map((x) => x.obs), mode, o), index }, rerun: outs.some((x) => x.rerunStrict) };
    }
    const outs = await Promise.all(t.hidden.map((h) => run(h.input)));
    return { v: { ...judgeInduction(t, outs.map((x) => x.obs), mode, o), index }, rerun: outs.some((x) => x.rerunStrict) };
  }

  private async alternatePool(): Promise<WorkerPool> {
    if (!this.altPool) {
      const o = this.options;
      this.altPool = new WorkerPool({ size: 1, memoryMB: this.limits.memoryMB, inflight: o.inflightPerWorker, infraRetries: o.infraRetries, sandbox: { python: o.python, hashSeed: o.hashSeed + 1, bubblewrap: this.isolation.bubblewrap } });
      await this.altPool.start();
    }
    return this.altPool;
  }

  private stream<T extends { index: number }>(work: Promise<{ v: T; rerun: boolean }>[], reasonOf: (v: T) => string): VerdictStream<T> {
    const t0 = performance.now();
    const replacedBefore = new Map(this.pool.replaced);
    const byReason = new Map<string, number>();
    let rerunStrict = 0;
    let done = 0;
    let t1 = t0;
    const record = (v: T, rerun: boolean) => {
      const r = reasonOf(v);
      byReason.set(r, (byReason.get(r) ?? 0) + 1);
      this.totals.byReason.set(r, (this.totals.byReason.get(r) ?? 0) + 1);
      this.totals.tasks++;
      if (rerun) rerunStrict++;
      done++;
      t1 = performance.now();
    };
    const pool = this.pool;
    // Settled results queue up in completion order; the generator waits on one deferred at a
    // time (Promise.race over every pending task would cost O(n²) for a large batch).
    const settled: ({ ok: true; x: { v: T; rerun: boolean } } | { ok: false; e: unknown })[] = [];
    let wake: (() => void) | undefined;
    const wakeUp = () => { const w = wake; wake = undefined; w?.(); };
    for (const p of work) {
      p.then((x) => { settled.push({ ok: true, x }); wakeUp(); }, (e) => { settled.push({ ok: false, e }); wakeUp(); });
    }
    async function* iterate(): AsyncGenerator<T> {
      for (let seen = 0; seen < work.length; seen++) {
        while (settled.length === 0) await new Promise<void>((res) => { wake = res; });
        const s = settled.shift()!;
        if (!s.ok) throw s.e;
        record(s.x.v, s.x.rerun);
        yield s.x.v;
      }
    }
    return {
      [Symbol.asyncIterator]: iterate,
      stats(): CallStats {
        const seconds = (t1 - t0) / 1000;
        const workersReplaced: Record<string, number> = {};
        for (const [k, n] of pool.replaced) {
          const d = n - (replacedBefore.get(k) ?? 0);
          if (d) workersReplaced[k] = d;
        }
        return { tasks: done, seconds, tasksPerSecond: seconds > 0 ? done / seconds : 0, byReason: Object.fromEntries(byReason), rerunStrict, workersReplaced };
      },
    };
  }
}

function isolationFrom(bw: { ok: true } | { ok: false; why: string }, limits: { as?: number; nproc?: number; cpu?: boolean; nproc_error?: string }, python: PythonChoice): IsolationReport {
  const warnings: string[] = [];
  if (!bw.ok) warnings.push(`no OS sandbox: ${bw.why}`);
  if (!limits.nproc) warnings.push(`no process limit: ${limits.nproc_error ?? "RLIMIT_NPROC could not be set"} — run as root (workers then get their own uids) or as a user with few processes`);
  const full = bw.ok && !!limits.nproc && !!limits.as && !!limits.cpu;
  return {
    level: full ? "full" : "partial",
    bubblewrap: bw.ok,
    network: bw.ok ? "none" : "host",
    filesystem: bw.ok ? "read-only binds + private tmpfs" : "host filesystem",
    uid: bw.ok && typeof process.getuid === "function" && process.getuid() === 0 ? "per-worker" : "shared",
    limits: { memoryBytes: limits.as ?? null, cpu: !!limits.cpu, nproc: limits.nproc ?? null },
    python,
    warnings,
  };
}

/** What isolation the executor gets on this machine (for `azr doctor`): starts one worker and stops it. */
export async function probeIsolation(opts: { python?: PythonChoice; memoryMB?: number } = {}): Promise<IsolationReport> {
  const python = opts.python ?? findPython();
  const bw = bubblewrapUsable(python.path);
  const pool = new WorkerPool({ size: 1, memoryMB: opts.memoryMB ?? DEFAULT_LIMITS.memoryMB, inflight: 1, sandbox: { python, hashSeed: 0, bubblewrap: bw.ok } });
  try {
    await pool.start();
    return isolationFrom(bw, pool.firstReady!.limits, python);
  } finally {
    await pool.close();
  }
}

/** Runs `items` one after another and stops after the first whose result `failed` says failed; the results so far, in order. */
async function inTurnUntilFailure<I, R>(items: readonly I[], run: (item: I) => Promise<R>, failed: (item: I, result: R) => boolean): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) {
    const r = await run(item);
    results.push(r);
    if (failed(item, r)) break;
  }
  return results;
}
