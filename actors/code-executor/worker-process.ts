/**
 * One sandboxed Python worker seen from Node: start it, feed it jobs, read its results in
 * order, enforce each job's wall-clock limit by killing the whole sandbox, and report how it
 * ended.
 *
 * Covers: the in-flight queue (jobs run one after another in send order, so the head of the
 * queue is the running job and its deadline starts when the previous result arrives), the
 * result-order check (a result for any job but the head is a forged or broken frame: the worker
 * is killed), exit classification. Not: what to do next (re-run, replace) — the pool decides.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame, FrameReader, type Job, type Observation, type ReadyMessage, type WorkerMessage } from "./protocol.ts";
import type { LaunchPlan } from "./sandbox.ts";

/** worker.py exits with EXIT_POLLUTED + k after finding pollution kind k (same order there). */
export const EXIT_POLLUTED = 80;
export const POLLUTION_KINDS = ["modules", "builtins", "threads", "signals", "fds", "cwd", "environment",
  "hooks", "recursion", "references", "scratch", "new-modules", "limits"] as const;
export type PollutionKind = (typeof POLLUTION_KINDS)[number];

/** Extra time Node gives a strict job: its own worker kills the child at timeoutMs. */
const STRICT_GRACE_MS = 2000;
const START_TIMEOUT_MS = 20_000;

export type WorkerEnd =
  | { kind: "timeout"; head: Job; rest: Job[] }
  | { kind: "polluted"; why: PollutionKind; head: Job | undefined; rest: Job[] }
  | { kind: "crashed"; exitCode: number | null; signal: number | null; head: Job | undefined; rest: Job[] }
  | { kind: "protocol"; why: string; head: Job | undefined; rest: Job[] }
  | { kind: "closed"; rest: Job[] }
  /** The worker finished a job that imported new modules and left on purpose. */
  | { kind: "retired"; why: string; rest: Job[] };

export interface WorkerEvents {
  onResult(job: Job, obs: Observation): void;
  onEnd(worker: WorkerProcess, end: WorkerEnd): void;
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGSEGV: 11, SIGXCPU: 24, SIGABRT: 6, SIGBUS: 7, SIGTERM: 15 };

interface Channel {
  childIn: number;
  childOut: number;
  toWorker: Socket;
  fromWorker: Socket;
}

/**
 * Two FIFOs rather than Node's stdio pipes: Node's are socketpairs, which cannot be re-opened
 * through /proc/self/fd — and re-opening is how the worker gets its channel back after a task
 * that ran with only an O_PATH handle to it. Node opens both FIFOs read-write, so the worker
 * dropping its ends never looks like EOF or EPIPE here; the paths are removed at once.
 */
function openChannel(): Channel {
  const dir = mkdtempSync(join(tmpdir(), "azr-chan-"));
  try {
    const req = join(dir, "req");
    const res = join(dir, "res");
    // 0666: inside its user namespace the worker's uid is "other" to this file (dir is 0700).
    const r = spawnSync("mkfifo", ["-m", "666", req, res], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr || r.error?.message}`);
    const rw = constants.O_RDWR | constants.O_NONBLOCK;
    const toWorkerFd = openSync(req, rw);
    const fromWorkerFd = openSync(res, rw);
    const childIn = openSync(req, constants.O_RDONLY | constants.O_NONBLOCK);
    const childOut = openSync(res, constants.O_WRONLY | constants.O_NONBLOCK);
    return {
      childIn,
      childOut,
      toWorker: new Socket({ fd: toWorkerFd, readable: false, writable: true }),
      fromWorker: new Socket({ fd: fromWorkerFd, readable: true, writable: false }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export class WorkerProcess {
  readonly inflight: Job[] = [];
  ready!: ReadyMessage;
  private ended = false;
  /** Set when the last result said the worker is leaving (new modules imported). */
  retiring: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private killReason: WorkerEnd | undefined;
  private readonly stderrTail: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly toWorker: Socket,
    private readonly fromWorker: Socket,
    private readonly events: WorkerEvents,
  ) {}

  /** Spawn, send the config frame, and resolve once the worker reports ready. */
  static start(plan: LaunchPlan, config: { memoryMB: number }, events: WorkerEvents): Promise<WorkerProcess> {
    return new Promise((resolve, reject) => {
      let channel: Channel;
      try {
        channel = openChannel();
      } catch (e) {
        reject(new Error(`cannot create the worker's FIFOs: ${(e as Error).message}`));
        return;
      }
      const child = spawn(plan.command, plan.args, {
        stdio: [channel.childIn, channel.childOut, "pipe"],
        env: plan.env,
        uid: plan.uid,
        gid: plan.gid,
      });
      closeSync(channel.childIn);
      closeSync(channel.childOut);
      const w = new WorkerProcess(child, channel.toWorker, channel.fromWorker, events);
      const reader = new FrameReader();
      let started = false;
      const startTimer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`Python worker did not report ready within ${START_TIMEOUT_MS} ms; stderr: ${w.stderrTail.join("").slice(-2000)}`));
      }, START_TIMEOUT_MS);
      child.on("error", (e) => {
        clearTimeout(startTimer);
        if (!started) reject(new Error(`cannot start the Python worker (${plan.command}): ${e.message}`));
      });
      child.stderr!.on("data", (d: Buffer) => {
        w.stderrTail.push(d.toString("utf8"));
        if (w.stderrTail.length > 20) w.stderrTail.shift();
      });
      w.toWorker.on("error", () => { /* the exit handler reports the end */ });
      w.fromWorker.on("error", () => { /* idem */ });
      w.fromWorker.on("data", (chunk: Buffer) => {
        let msgs: unknown[];
        try {
          msgs = reader.push(chunk);
        } catch (e) {
          w.killFor({ kind: "protocol", why: (e as Error).message, head: w.inflight[0], rest: w.inflight.slice(1) });
          return;
        }
        for (const m of msgs as WorkerMessage[]) {
          if (!started) {
            if (m && m.t === "ready") {
              started = true;
              clearTimeout(startTimer);
              w.ready = m;
              resolve(w);
            } else {
              child.kill("SIGKILL");
              reject(new Error(`Python worker sent ${JSON.stringify(m).slice(0, 200)} before ready`));
            }
            continue;
          }
          w.onMessage(m);
        }
      });
      child.on("exit", (code, signal) => {
        clearTimeout(startTimer);
        w.toWorker.destroy();
        w.fromWorker.destroy();
        if (!started) {
          reject(new Error(`Python worker exited before ready (code ${code}, signal ${signal}); stderr: ${w.stderrTail.join("").slice(-2000)}`));
          return;
        }
        w.onExit(code, signal);
      });
      w.toWorker.write(encodeFrame({ scratch: plan.scratch, memoryMB: config.memoryMB }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.ended;
  }

  // Declared before `exited`, whose initializer assigns it (fields initialise in order).
  private resolveExited!: () => void;
  /** Resolves once the worker process has exited (never rejects). */
  readonly exited: Promise<void> = new Promise((res) => (this.resolveExited = res));

  /** Alive and not on its way out. */
  get accepting(): boolean {
    return !this.ended && !this.killReason && !this.retiring;
  }

  /** Queue jobs on this worker (one frame). */
  send(jobs: Job[]): void {
    if (this.ended || jobs.length === 0) return;
    const wasIdle = this.inflight.length === 0;
    this.inflight.push(...jobs);
    this.toWorker.write(encodeFrame({ t: "jobs", jobs }));
    if (wasIdle) this.armHead();
  }

  /** Stop the worker; jobs still queued are handed back through onEnd({kind:"closed"}). */
  close(): void {
    if (this.ended) return;
    this.killFor({ kind: "closed", rest: [...this.inflight] });
  }

  private armHead(): void {
    clearTimeout(this.timer);
    const head = this.inflight[0];
    if (!head) return;
    const limit = head.timeoutMs + (head.strict ? STRICT_GRACE_MS : 0);
    this.timer = setTimeout(() => {
      if (this.inflight[0] === head) this.killFor({ kind: "timeout", head, rest: this.inflight.slice(1) });
    }, limit);
  }

  private onMessage(m: WorkerMessage): void {
    if (!m || typeof m !== "object") {
      this.killFor({ kind: "protocol", why: "a frame that is not a message", head: this.inflight[0], rest: this.inflight.slice(1) });
      return;
    }
    if (m.t === "result") {
      const head = this.inflight[0];
      const obs = m.r;
      if (!head || !obs || obs.id !== head.id) {
        this.killFor({ kind: "protocol", why: `result for job ${obs?.id} while job ${head?.id} was running`, head, rest: this.inflight.slice(1) });
        return;
      }
      this.inflight.shift();
      if (typeof obs.retire === "string") this.retiring = obs.retire;
      this.armHead();
      this.events.onResult(head, obs);
      return;
    }
    const why = m.t === "fatal" ? `worker: ${m.why}` : `unexpected message ${JSON.stringify(m).slice(0, 100)}`;
    this.killFor({ kind: "protocol", why, head: this.inflight[0], rest: this.inflight.slice(1) });
  }

  private killFor(end: WorkerEnd): void {
    if (this.ended || this.killReason) return;
    this.killReason = end;
    clearTimeout(this.timer);
    // bwrap --die-with-parent takes the sandbox down with it; SIGKILL, never a catchable signal.
    this.child.kill("SIGKILL");
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveExited();
    clearTimeout(this.timer);
    const head = this.inflight[0];
    const rest = this.inflight.slice(1);
    if (this.killReason) {
      this.events.onEnd(this, this.killReason);
      return;
    }
    // bwrap reports a child killed by signal n as exit code 128 + n.
    let sig = signal ? (SIGNALS[signal] ?? -1) : null;
    let exitCode = code;
    if (code !== null && code > 128 && code < 160) {
      sig = code - 128;
      exitCode = null;
    }
    if (this.retiring && exitCode === EXIT_POLLUTED + POLLUTION_KINDS.indexOf("new-modules")) {
      this.events.onEnd(this, { kind: "retired", why: this.retiring, rest: [...this.inflight] });
      return;
    }
    if (exitCode !== null && exitCode >= EXIT_POLLUTED && exitCode < EXIT_POLLUTED + POLLUTION_KINDS.length) {
      this.events.onEnd(this, { kind: "polluted", why: POLLUTION_KINDS[exitCode - EXIT_POLLUTED], head, rest });
      return;
    }
    this.events.onEnd(this, { kind: "crashed", exitCode, signal: sig, head, rest });
  }

  stderrText(): string {
    return this.stderrTail.join("");
  }
}
