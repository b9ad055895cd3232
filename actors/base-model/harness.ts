/**
 * A pool of long-lived Python processes running harness.py: the corpus builder's way to execute
 * its OWN generated programs on many inputs fast. Covers: starting `workers` interpreters
 * (Debian's python3 via findPython, PYTHONHASHSEED=0 as self-play's executor uses), spreading
 * requests over them, answers in request order per worker, clean shutdown, a crashed worker
 * failing its pending calls with a clear error. Not: sandboxing — model-written code must go
 * through actors/code-executor. Why it exists beside the executor: it runs our own generated
 * programs ~100× faster (measured: thousands of runs/s vs tens), and test/corpus/runners.test.ts
 * checks that both give the same verdicts and outputs (`make-corpus --runner executor` uses the
 * executor throughout).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";

/** `trace` only when asked for (null: longer than its limits; see harness.py). */
export type RunResult = { ok: true; output: string; trace?: string | null } | { ok: false; reason: string; detail: string };

/** Limits of an execution trace (harness.py's `trace`): a longer one is not returned. */
export interface TraceLimits {
  maxLines: number;
  maxChars: number;
}

export interface RunnerOptions {
  /** Interpreters to start; default 2 (the laptop target has 2 cores). */
  workers?: number;
  /** Per-call time limit in seconds; our programs finish in microseconds, so 2 s is generous. */
  timeoutS?: number;
  /** Longest output repr kept (azr-spec §5.3 check 7: 400). */
  maxOutputChars?: number;
  python?: string;
}

export const DEFAULT_RUN_TIMEOUT_S = 2;
export const DEFAULT_MAX_OUTPUT_CHARS = 400;

const HARNESS = fileURLToPath(new URL("./harness.py", import.meta.url));

interface Pending {
  resolve: (r: RunResult[]) => void;
  reject: (e: Error) => void;
  count: number;
}

class Worker {
  readonly pending: Pending[] = [];
  private buffer = "";
  private dead: Error | undefined;

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    let stderr = "";
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (chunk: string) => this.onData(chunk));
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    proc.on("exit", (code, signal) => this.fail(new Error(`corpus harness (python ${HARNESS}) exited with ${signal ?? code}; stderr: ${stderr.trim() || "(empty)"}`)));
    proc.on("error", (e) => this.fail(new Error(`corpus harness could not start: ${e.message}; set AZR_PYTHON to a python3`, { cause: e })));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const p = this.pending.shift();
      if (!p) continue;
      const msg = JSON.parse(line) as { results?: RunResult[]; error?: string };
      if (msg.error !== undefined || !msg.results) p.reject(new Error(`corpus harness rejected a request: ${msg.error}`));
      else p.resolve(msg.results);
    }
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  send(line: string, count: number): Promise<RunResult[]> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, count });
      this.proc.stdin.write(line + "\n");
    });
  }

  load(): number {
    return this.pending.reduce((acc, p) => acc + p.count, 0);
  }
}

export class ProgramRunner {
  private constructor(
    private readonly workers: Worker[],
    private readonly timeoutS: number,
    private readonly maxOutputChars: number,
  ) {}

  static start(opts: RunnerOptions = {}): ProgramRunner {
    const python = opts.python ?? findPython().path;
    const n = opts.workers ?? 2;
    const workers = Array.from({ length: n }, () => {
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONHASHSEED: "0", PYTHONDONTWRITEBYTECODE: "1" };
      return new Worker(spawn(python, ["-u", HARNESS], { env, stdio: ["pipe", "pipe", "pipe"] }));
    });
    return new ProgramRunner(workers, opts.timeoutS ?? DEFAULT_RUN_TIMEOUT_S, opts.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS);
  }

  /** Runs `program`'s `f` on each input; one result per input, in order (with `trace`, passing ones traced). */
  run(program: string, inputs: readonly string[], trace?: TraceLimits): Promise<RunResult[]> {
    const line = JSON.stringify({ program, inputs, timeoutS: this.timeoutS, maxOutputChars: this.maxOutputChars, ...(trace ? { trace } : {}) });
    const w = this.workers.reduce((best, x) => (x.load() < best.load() ? x : best));
    return w.send(line, inputs.length);
  }

  /** Closes stdin so each interpreter exits after its last answer, and waits for them. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) return resolve();
            w.proc.once("exit", () => resolve());
            w.proc.stdin.end();
          }),
      ),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
