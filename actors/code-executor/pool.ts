/**
 * A pool of sandboxed workers that turns jobs into final observations.
 *
 * Covers: dispatch (a few jobs in flight per worker, sent as one frame), replacing every worker
 * that times out, crashes, is polluted, breaks the protocol or retires, and the re-run rule: a
 * job whose in-process run ended in a crash or pollution is run again in strict mode (a fresh
 * forked child), so its verdict never depends on the worker's history. A job whose strict run
 * loses its worker for reasons of its own gets two more tries, then an "infrastructure" result.
 * Not: verdicts (verdicts.ts) or the public API (executor.ts).
 */
import type { Job, Observation } from "./protocol.ts";
import { launchPlan, type SandboxOptions } from "./sandbox.ts";
import { WorkerProcess, type WorkerEnd } from "./worker-process.ts";

export interface PoolOptions {
  size: number;
  sandbox: SandboxOptions;
  memoryMB: number;
  /** Jobs in flight per worker; refilled when half have finished. */
  inflight: number;
  /** Runs of a job again after an infrastructure failure (its worker died under it), before it is a crash. Default 2. */
  infraRetries?: number;
}

/** A job's final observation plus how it got there. */
export interface Outcome {
  obs: Observation;
  /** Ran (finally) in a forked child because the in-process run crashed or polluted the worker. */
  rerunStrict: boolean;
}

interface Pending {
  job: Job;
  resolve: (o: Outcome) => void;
  reject: (e: Error) => void;
  rerunStrict: boolean;
  infraTries: number;
}

const DEFAULT_INFRA_RETRIES = 2;
export class WorkerPool {
  private readonly queue: Pending[] = [];
  private readonly byId = new Map<number, Pending>();
  private readonly workers = new Set<WorkerProcess>();
  private starting = 0;
  private closed = false;
  private startFailures = 0;
  private lastStartError: Error | undefined;
  /** Why workers were replaced, by reason. */
  readonly replaced = new Map<string, number>();
  workersStarted = 0;
  /** Every uid a worker of this pool ran as (per-worker uids when we run as root). */
  readonly uids = new Set<number>();
  firstReady: WorkerProcess["ready"] | undefined;

  constructor(private readonly opts: PoolOptions) {}

  /** Start all workers; resolves when the first is ready (rejects if none can start). */
  async start(): Promise<void> {
    const starts = Array.from({ length: this.opts.size }, () => this.spawnOne());
    await Promise.any(starts).catch(() => {
      throw this.lastStartError ?? new Error("no Python worker could start");
    });
  }

  run(job: Job): Promise<Outcome> {
    if (this.closed) return Promise.reject(new Error("the executor is closed"));
    return new Promise((resolve, reject) => {
      const p: Pending = { job, resolve, reject, rerunStrict: false, infraTries: 0 };
      this.byId.set(job.id, p);
      this.queue.push(p);
      this.pump();
    });
  }

  get liveWorkers(): number {
    return this.workers.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const ends = [...this.workers].map((w) => {
      w.close();
      return w.exited;
    });
    await Promise.all(ends);
    for (const p of this.queue) p.reject(new Error("the executor was closed before this task ran"));
    this.queue.length = 0;
  }

  private spawnOne(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.starting++;
    const plan = launchPlan(this.opts.sandbox);
    return WorkerProcess.start(plan, { memoryMB: this.opts.memoryMB }, {
      onResult: (job, obs) => this.onResult(job, obs),
      onEnd: (w, end) => this.onEnd(w, end),
    }).then((w) => {
      this.starting--;
      this.workersStarted++;
      this.firstReady ??= w.ready;
      this.uids.add(w.ready.uid);
      this.startFailures = 0;
      if (this.closed) { w.close(); return; }
      this.workers.add(w);
      this.pump();
    }, (e: Error) => {
      this.starting--;
      this.startFailures++;
      this.lastStartError = e;
      if (this.startFailures >= 5 && this.workers.size === 0 && this.starting === 0) {
        for (const p of this.queue) p.reject(new Error(`Python workers cannot start: ${e.message}`));
        this.queue.length = 0;
      } else if (!this.closed && this.workers.size + this.starting < this.opts.size) {
        setTimeout(() => void this.spawnOne(), 100 * this.startFailures);
      }
      throw e;
    });
  }

  private pump(): void {
    if (this.queue.length === 0) return;
    const per = this.opts.inflight;
    // Called after every result: most calls find every worker still more than half full.
    let room = false;
    for (const w of this.workers) if (w.accepting && w.inflight.length <= per / 2) { room = true; break; }
    if (!room) return;
    // Fill the least-loaded workers first so short queues spread over every core.
    const ws = [...this.workers].filter((w) => w.accepting).sort((a, b) => a.inflight.length - b.inflight.length);
    for (const w of ws) {
      if (this.queue.length === 0) break;
      if (w.inflight.length > per / 2) continue;
      const share = Math.max(1, Math.min(per - w.inflight.length, Math.ceil(this.queue.length / ws.length)));
      const batch = this.queue.splice(0, share).map((p) => p.job);
      w.send(batch);
    }
  }

  private onResult(job: Job, obs: Observation): void {
    const p = this.byId.get(job.id);
    if (!p) return;
    this.byId.delete(job.id);
    p.resolve({ obs, rerunStrict: p.rerunStrict });
    this.pump();
  }

  private count(reason: string): void {
    this.replaced.set(reason, (this.replaced.get(reason) ?? 0) + 1);
  }

  private requeueFront(jobs: Job[]): void {
    const ps = jobs.map((j) => this.byId.get(j.id)).filter((p): p is Pending => !!p);
    this.queue.unshift(...ps);
  }

  private finish(job: Job, obs: Observation): void {
    const p = this.byId.get(job.id);
    if (!p) return;
    this.byId.delete(job.id);
    p.resolve({ obs, rerunStrict: p.rerunStrict });
  }

  /** The in-process run cannot be trusted: run it again in a forked child. */
  private rerunStrict(job: Job): void {
    const p = this.byId.get(job.id);
    if (!p) return;
    p.rerunStrict = true;
    p.job = { ...job, strict: true };
    this.queue.unshift(p);
  }

  private infraRetry(job: Job, what: string): void {
    const p = this.byId.get(job.id);
    if (!p) return;
    if (++p.infraTries > (this.opts.infraRetries ?? DEFAULT_INFRA_RETRIES)) {
      this.finish(job, { id: job.id, stage: "crash", error: { type: "infrastructure", message: what } });
    } else {
      this.queue.unshift(p);
    }
  }

  private onEnd(w: WorkerProcess, end: WorkerEnd): void {
    this.workers.delete(w);
    switch (end.kind) {
      case "closed":
        this.requeueFront(end.rest);
        break;
      case "retired":
        this.count(`retired: ${end.why}`);
        this.requeueFront(end.rest);
        break;
      case "timeout":
        this.count("timeout");
        this.requeueFront(end.rest);
        this.finish(end.head, { id: end.head.id, stage: "timeout" });
        break;
      case "polluted":
        this.count(`polluted: ${end.why}`);
        this.requeueFront(end.rest);
        if (end.head) {
          if (end.head.strict) this.infraRetry(end.head, `worker polluted (${end.why}) during a strict run`);
          else this.rerunStrict(end.head);
        }
        break;
      case "crashed":
        this.count(end.signal ? `crashed: signal ${end.signal}` : `crashed: exit ${end.exitCode}`);
        this.requeueFront(end.rest);
        if (end.head) {
          if (end.head.strict) this.infraRetry(end.head, `worker exited (code ${end.exitCode}, signal ${end.signal}) during a strict run`);
          else this.rerunStrict(end.head);
        }
        break;
      case "protocol":
        this.count("protocol");
        this.requeueFront(end.rest);
        if (end.head) {
          if (end.head.strict) this.infraRetry(end.head, `protocol violation during a strict run: ${end.why}`);
          else this.rerunStrict(end.head);
        }
        break;
    }
    if (!this.closed && this.workers.size + this.starting < this.opts.size) void this.spawnOne().catch(() => {});
    this.pump();
  }
}
