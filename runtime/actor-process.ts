/**
 * The parent side of one actor process: starts `node --import tsx runtime/actor-main.ts`, hands
 * it what to run over the IPC channel (structured clone, so typed-array arguments pass as they
 * are), pipes its output into the actor's log, and resolves once the actor serves calls.
 * Covers: start, ready / start failure / start timeout, heartbeats, stop (SIGTERM then SIGKILL),
 * the process group: each actor leads its own, so what it started (a Python worker, a compiler)
 * is ended with it — SIGKILL to the group once the actor has exited, whatever the reason.
 * Not: deciding restarts (node-agent.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ConnectionSpec } from "./connection.ts";
import type { CheckpointPolicy, MethodInfo } from "./define.ts";
import type { ActorLog } from "./logs.ts";

/** What the child needs to build and serve the actor. */
export interface ChildSpec {
  cluster: string;
  name: string;
  moduleUrl: string;
  exportName: string;
  args: unknown[];
  concurrent: string[];
  checkpoint: CheckpointPolicy;
  connection: ConnectionSpec;
  incarnation: number;
}

export type ParentMessage = { t: "start"; spec: ChildSpec };
export type ChildMessage =
  | { t: "ready"; methods: MethodInfo[] }
  | { t: "failed"; name: string; message: string; stack?: string }
  | { t: "hb" };

export const HEARTBEAT_MS = 1000;
export const DEFAULT_START_TIMEOUT_MS = 60_000;
export const STOP_GRACE_MS = 5000;

const ACTOR_MAIN = fileURLToPath(new URL("./actor-main.ts", import.meta.url));
const TSX_LOADER = import.meta.resolve("tsx");

/** The actor's constructor, loadState, or module import failed in the child. */
export class ActorStartError extends Error {
  override name = "ActorStartError";
  /** The name of the error thrown in the child (e.g. StateCorruptError), when it reported one. */
  childError?: string;
}

/** How long after the actor's exit we wait for the rest of its stderr (its last error line) before reporting the exit. */
const STDERR_DRAIN_MS = 500;
/** Stderr lines kept to find the last error line of a crashed actor. */
const STDERR_TAIL_LINES = 40;

/**
 * The line of `lines` (an actor's last stderr lines) that best says why it ended: the last
 * `SomeError: …` / `SomeException: …` line (Node's and Python's uncaught errors print the stack
 * around it), else the last line that is not a stack frame or Node's version trailer.
 */
export function lastErrorLine(lines: readonly string[]): string | undefined {
  const text = lines.map((l) => l.trim()).filter((l) => l.length > 0);
  const named = text.findLast((l) => /^([A-Za-z_$][\w$.]*)?(Error|Exception|Exit|Interrupt)\b(\s*\[[^\]]*\])?:/.test(l) || /^Uncaught\b/.test(l));
  const line = named ?? text.findLast((l) => !/^at\s/.test(l) && !/^Node\.js v\d/.test(l) && !/^\^+$/.test(l) && !/^[{}]$/.test(l));
  return line === undefined ? undefined : line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export class ActorProcess {
  readonly child: ChildProcess;
  lastHeartbeat = Date.now();
  /** Resolves with how the process ended (once its descendants are ended too); never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #stderrTail: string[] = [];
  /** Set at the 'exit' event, before `exited` resolves (which waits for the rest of stderr). */
  hasExited = false;

  private constructor(child: ChildProcess) {
    this.child = child;
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.hasExited = true;
        // The actor is gone; whatever it started (a worker, a shell) must not run on without
        // a supervisor, holding memory, a GPU or the actor's stderr open.
        this.#signalGroup("SIGKILL");
        // 'exit' can come before the last of stderr has been read: wait (briefly) for it, so
        // the exit's reason can name the actor's last error line.
        const drained = setTimeout(resolve, STDERR_DRAIN_MS, { code, signal });
        void closed.then(() => {
          clearTimeout(drained);
          resolve({ code, signal });
        });
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Keeps the last STDERR_TAIL_LINES stderr lines (the actor's log splits them: see start). */
  #noteStderr(line: string): void {
    this.#stderrTail.push(line.slice(0, 1000));
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
  }

  /** The actor's last error line on stderr (see lastErrorLine), once it has exited. */
  get lastError(): string | undefined {
    return lastErrorLine(this.#stderrTail);
  }

  /** Signals the actor's whole process group (it leads one: see start); false when none was left. */
  #signalGroup(signal: NodeJS.Signals): boolean {
    if (!this.child.pid) return false;
    try {
      process.kill(-this.child.pid, signal);
      return true;
    } catch {
      return false; // ESRCH: the actor and everything it started have exited
    }
  }

  /** Kills the actor and every process it started, at once (a hang, a start timeout). */
  killGroup(): void {
    if (!this.#signalGroup("SIGKILL")) this.child.kill("SIGKILL");
  }

  /** Starts the child and resolves once it serves calls, with its method table. `env` is added to this process's environment. */
  static async start(spec: ChildSpec, log: ActorLog, startTimeoutMs = DEFAULT_START_TIMEOUT_MS, env: Record<string, string> = {}): Promise<{ proc: ActorProcess; methods: MethodInfo[] }> {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, ACTOR_MAIN], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
      // Its own process group (and session), which it leads: the agent can then end the actor
      // together with what it started, by signalling the group. It also takes the actor out of
      // the terminal's foreground group, so Ctrl-C reaches only the command (e.g. `azr
      // selfplay`), which stops its actors in order rather than each dying mid-call on SIGINT.
      detached: true,
      env: { ...process.env, ...env, AZR_ACTOR_NAME: spec.name },
    });
    const proc = new ActorProcess(child);
    log.pipe(child.stdout!, "stdout");
    log.pipe(child.stderr!, "stderr", (line) => proc.#noteStderr(line));
    child.on("message", (m: ChildMessage) => {
      if (m.t === "hb") proc.lastHeartbeat = Date.now();
    });
    const ready = new Promise<MethodInfo[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.killGroup();
        reject(new ActorStartError(`actor '${spec.name}' did not start within ${startTimeoutMs} ms (see its log ${log.file})`));
      }, startTimeoutMs);
      child.on("message", (m: ChildMessage) => {
        if (m.t === "ready") {
          clearTimeout(timer);
          proc.lastHeartbeat = Date.now(); // a slow start-up (a model load) is not a hang
          resolve(m.methods);
        } else if (m.t === "failed") {
          clearTimeout(timer);
          const e = new ActorStartError(`actor '${spec.name}' failed to start: ${m.name}: ${m.message}`);
          e.childError = m.name;
          if (m.stack) e.stack = `${e.name}: ${e.message}\n--- in the actor process ---\n${m.stack}`;
          reject(e);
        }
      });
      void proc.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new ActorStartError(`actor '${spec.name}' exited during start-up (${signal ?? `code ${code}`}); see its log ${log.file}`));
      });
    });
    child.send({ t: "start", spec } satisfies ParentMessage);
    try {
      return { proc, methods: await ready };
    } catch (e) {
      if (child.exitCode === null && child.signalCode === null) proc.killGroup();
      await proc.exited;
      throw e;
    }
  }

  /**
   * SIGTERM (the actor drains, and stops its own workers), then SIGKILL to its whole group after
   * a grace period: an actor that ignores SIGTERM (a blocked event loop) still stops. What it
   * started and left running is killed once it has exited (see the constructor). Resolves with
   * "sigkill" when the escalation was needed, so the agent can say so in the actor's log.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = STOP_GRACE_MS): Promise<"exited" | "sigkill"> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return "exited";
    this.child.kill(signal);
    let escalated = false;
    const t = setTimeout(() => {
      escalated = true;
      this.killGroup();
    }, graceMs);
    await this.exited;
    clearTimeout(t);
    return escalated ? "sigkill" : "exited";
  }
}
