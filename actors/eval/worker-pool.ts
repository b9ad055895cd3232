/**
 * A pool of eval_worker.py processes, each inside the executor's bubblewrap sandbox.
 *
 * Covers: starting a worker the way the executor does (its `launchPlan`, with our script bound
 * read-only in place of worker.py), one job at a time per worker, a whole-job deadline enforced
 * from here by SIGKILL (the worker's own per-test limits are the normal path; this one catches
 * a worker that stops answering), replacing a worker that died, and failing only the job it was
 * running. Not: what the jobs mean (code-score.ts, math-equiv.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";
import { stringifyPyJson } from "./pyjson.ts";
import { bubblewrapUsable, launchPlan, type LaunchPlan, type UidRange } from "../code-executor/sandbox.ts";

const EVAL_DIR = dirname(fileURLToPath(import.meta.url));
const SANDBOX_EVAL_DIR = "/azr-eval";
const SCRIPT = "eval_worker.py";
const START_TIMEOUT_MS = 30_000;

/** A job as eval_worker.py reads it (kind-specific fields pass through). */
export interface WorkerJob {
  kind: "code" | "math" | "lcb";
  [field: string]: unknown;
}

/** What the worker answered, or how the harness ended the job. */
export type WorkerReply = Record<string, unknown> & { harness?: "deadline" | "worker-died" };

export interface EvalPoolOptions {
  workers: number;
  /** Import sympy once in each worker so every comparison's child has it already. */
  math?: boolean;
  /** Run without bubblewrap (only where it cannot work; the pool says so in `sandboxed`). */
  bubblewrap?: boolean;
}

/**
 * uids of eval workers, disjoint from the code executor's (EXECUTOR_UIDS, 61000–64999): an eval
 * and a self-play run may share a host, and RLIMIT_NPROC counts processes per uid — an eval
 * worker on an executor worker's uid would take the process slot its strict child forks into.
 * (65534/65535 are nobody / (uid_t)-1 in 16 bits: stay above them.) test/executor/pool.test.ts
 * checks the two ranges stay apart.
 */
export const EVAL_UIDS: UidRange = { first: 66000, count: 2000 };

/** Our script in place of the executor's worker.py, in the same sandbox. */
function evalPlan(math: boolean, bubblewrap: boolean): LaunchPlan {
  const plan = launchPlan({ hashSeed: 0, bubblewrap, uids: EVAL_UIDS });
  const at = plan.args.findIndex((a) => a.endsWith("/worker.py"));
  if (at < 0) throw new Error(`eval: the executor's launch plan no longer ends with worker.py (${plan.args.slice(-3).join(" ")}); update actors/eval/worker-pool.ts`);
  const args = [...plan.args];
  if (plan.sandboxed) {
    const dashdash = args.lastIndexOf("--", at);
    args.splice(dashdash, 0, "--ro-bind", EVAL_DIR, SANDBOX_EVAL_DIR);
    args[at + 3] = `${SANDBOX_EVAL_DIR}/${SCRIPT}`;
    if (math) args.splice(dashdash, 0, "--setenv", "AZR_EVAL_MATH", "1");
  } else {
    args[at] = join(EVAL_DIR, SCRIPT);
    plan.env = { ...plan.env, ...(math ? { AZR_EVAL_MATH: "1" } : {}) };
  }
  return { ...plan, args };
}

interface Pending {
  job: WorkerJob & { id: number };
  deadlineMs: number;
  resolve: (r: WorkerReply) => void;
}

class EvalWorker {
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dead = false;

  private constructor(private readonly child: ChildProcess, private readonly onIdle: (w: EvalWorker) => void, private readonly onDeath: (w: EvalWorker) => void) {}

  static start(plan: LaunchPlan, onIdle: (w: EvalWorker) => void, onDeath: (w: EvalWorker) => void): Promise<EvalWorker> {
    return new Promise((resolve, reject) => {
      const child = spawn(plan.command, plan.args, { stdio: ["pipe", "pipe", "pipe"], env: plan.env, uid: plan.uid, gid: plan.gid });
      const w = new EvalWorker(child, onIdle, onDeath);
      let ready = false;
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
      child.stdin!.on("error", () => { /* the exit handler reports it */ });
      const startTimer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`eval worker did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)); }, START_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        let msg: WorkerReply;
        try {
          msg = JSON.parse(line) as WorkerReply;
        } catch {
          child.kill("SIGKILL");
          return;
        }
        if (!ready) {
          ready = true;
          clearTimeout(startTimer);
          resolve(w);
          return;
        }
        w.finish(msg);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(startTimer);
        if (!ready) {
          reject(new Error(`eval worker exited before ready (code ${code}, signal ${signal}): ${stderr.trim()}`));
          return;
        }
        w.dead = true;
        clearTimeout(w.timer);
        const p = w.current;
        w.current = undefined;
        p?.resolve({ pass: false, equal: false, why: "crashed", detail: `eval worker died (code ${code}, signal ${signal})`, harness: "worker-died" });
        onDeath(w);
      });
    });
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  run(p: Pending): void {
    this.current = p;
    this.timer = setTimeout(() => {
      if (this.current !== p) return;
      this.current = undefined;
      p.resolve({ pass: false, equal: false, why: "timeout", detail: `job ran past its ${p.deadlineMs} ms deadline`, harness: "deadline" });
      this.child.kill("SIGKILL");
    }, p.deadlineMs);
    this.child.stdin!.write(stringifyPyJson(p.job) + "\n");
  }

  private finish(msg: WorkerReply): void {
    const p = this.current;
    if (!p || msg.id !== p.job.id) {
      this.child.kill("SIGKILL"); // a reply to nothing: the worker is broken
      return;
    }
    clearTimeout(this.timer);
    this.current = undefined;
    p.resolve(msg);
    this.onIdle(this);
  }

  kill(): void {
    if (!this.dead) this.child.kill("SIGKILL");
  }
}

export class EvalWorkerPool {
  private readonly idle: EvalWorker[] = [];
  private readonly all = new Set<EvalWorker>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private starting = 0;

  private constructor(private readonly plan: () => LaunchPlan, readonly sandboxed: boolean, private readonly size: number) {}

  static async start(o: EvalPoolOptions): Promise<EvalWorkerPool> {
    let bubblewrap = o.bubblewrap ?? true;
    if (bubblewrap) {
      const usable = bubblewrapUsable(findPython().path);
      if (!usable.ok) throw new Error(`eval: ${usable.why} (or pass bubblewrap: false to score without a sandbox)`);
    }
    const pool = new EvalWorkerPool(() => evalPlan(o.math ?? false, bubblewrap), bubblewrap, Math.max(1, o.workers));
    await Promise.all(Array.from({ length: pool.size }, () => pool.addWorker()));
    return pool;
  }

  private async addWorker(): Promise<void> {
    this.starting++;
    try {
      const w = await EvalWorker.start(this.plan(), (x) => this.onIdle(x), (x) => this.onDeath(x));
      this.all.add(w);
      if (this.closed) w.kill();
      else this.onIdle(w);
    } finally {
      this.starting--;
    }
  }

  private onIdle(w: EvalWorker): void {
    const next = this.queue.shift();
    if (next) w.run(next);
    else this.idle.push(w);
  }

  private onDeath(w: EvalWorker): void {
    this.all.delete(w);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    if (!this.closed) void this.addWorker().catch((e) => this.failQueue(e as Error));
  }

  private failQueue(e: Error): void {
    if (this.all.size > 0 || this.starting > 0) return;
    for (const p of this.queue.splice(0)) p.resolve({ pass: false, equal: false, why: "crashed", detail: `no eval worker could be started: ${e.message}`, harness: "worker-died" });
  }

  /** Run one job; resolves with the worker's reply, or a failure saying how the harness ended it. */
  run(job: WorkerJob, deadlineMs: number): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error("eval worker pool is closed"));
    return new Promise((resolve) => {
      const p: Pending = { job: { ...job, id: this.nextId++ }, deadlineMs, resolve };
      const w = this.idle.shift();
      if (w) w.run(p);
      else this.queue.push(p);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.all) w.kill();
    this.idle.length = 0;
  }
}
