/**
 * The parent side of one actor process: starts `node --import tsx runtime/actor-main.ts`, hands
 * it what to run over the IPC channel (structured clone, so typed-array arguments pass as they
 * are), pipes its output into the actor's log, and resolves once the actor serves calls.
 * Covers: start, ready / start failure / start timeout, heartbeats, stop (SIGTERM then SIGKILL).
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

export class ActorProcess {
  readonly child: ChildProcess;
  lastHeartbeat = Date.now();
  /** Resolves with how the process ended; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Starts the child and resolves once it serves calls, with its method table. `env` is added to this process's environment. */
  static async start(spec: ChildSpec, log: ActorLog, startTimeoutMs = DEFAULT_START_TIMEOUT_MS, env: Record<string, string> = {}): Promise<{ proc: ActorProcess; methods: MethodInfo[] }> {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, ACTOR_MAIN], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
      env: { ...process.env, ...env, AZR_ACTOR_NAME: spec.name },
    });
    const proc = new ActorProcess(child);
    log.pipe(child.stdout!, "stdout");
    log.pipe(child.stderr!, "stderr");
    child.on("message", (m: ChildMessage) => {
      if (m.t === "hb") proc.lastHeartbeat = Date.now();
    });
    const ready = new Promise<MethodInfo[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
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
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await proc.exited;
      throw e;
    }
  }

  /**
   * SIGTERM (the actor drains), then SIGKILL after a grace period: an actor that ignores SIGTERM
   * (a blocked event loop) still stops. Resolves with "sigkill" when that escalation was needed,
   * so the agent can say so in the actor's log.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<"exited" | "sigkill"> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return "exited";
    this.child.kill(signal);
    let escalated = false;
    const t = setTimeout(() => {
      escalated = true;
      this.child.kill("SIGKILL");
    }, STOP_GRACE_MS);
    await this.exited;
    clearTimeout(t);
    return escalated ? "sigkill" : "exited";
  }
}
