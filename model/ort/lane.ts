/**
 * One engine worker thread (./worker.ts) seen from the host: start-up, request/response by id,
 * streamed generations, abort, shutdown. OrtEngine runs one of these per batch lane.
 * Covers: the message plumbing and a worker's death (every pending call fails with why).
 * Not: which requests go where (./engine.ts).
 */
import { Worker } from "node:worker_threads";
import type { ArchConfig } from "../config.ts";
import type { Generation } from "../engine.ts";
import type { HostMessage, RemoteError, WorkerInit, WorkerMessage } from "./protocol.ts";

/** An error thrown inside an engine worker, re-thrown here with the worker's stack. */
export class OrtEngineError extends Error {
  override name = "OrtEngineError";
  constructor(readonly remote: RemoteError, where = "") {
    super(`${remote.name}: ${remote.message}${where}`);
    if (remote.stack) this.stack = `${this.stack}\n    --- in the engine worker${where} ---\n${remote.stack}`;
  }
}

export type HostRequest = HostMessage extends infer M ? (M extends HostMessage ? Omit<M, "id"> : never) : never;

export interface LaneReady {
  config: ArchConfig;
  eosTokenIds: number[];
  hasTokenizer: boolean;
}

interface Pending {
  onGeneration?: (g: Generation) => void;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class Lane {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why calls are refused: set by dispose or by the worker's death. */
  private closed: Error | undefined;
  private exited = false;

  private constructor(private readonly worker: Worker, private readonly where: string) {
    worker.on("message", (m: WorkerMessage) => this.onMessage(m));
    worker.on("error", (e) => this.failAll(new Error(`the engine worker${where} failed: ${e.message}`, { cause: e })));
    worker.on("exit", (code) => {
      this.exited = true;
      this.failAll(new Error(`the engine worker${where} exited (code ${code}); start a new engine`));
    });
  }

  /** Starts a worker on `init`; `where` (" (lane 1 of 2)" or "") goes into its error messages. */
  static start(init: WorkerInit, where = ""): Promise<{ lane: Lane; ready: LaneReady }> {
    // worker-entry.mjs registers tsx in the new thread, then loads ./worker.ts.
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the engine worker${where} exited during start-up (code ${code})`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (m: WorkerMessage) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (m.kind === "ready") resolve({ lane: new Lane(worker, where), ready: { config: m.config, eosTokenIds: m.eosTokenIds, hasTokenizer: m.hasTokenizer } });
        else if (m.kind === "initError") {
          void worker.terminate();
          reject(new OrtEngineError(m.error, where));
        }
      });
    });
  }

  /** Whether the worker thread is still running. */
  get alive(): boolean {
    return !this.exited;
  }

  private onMessage(m: WorkerMessage): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "generation") p.onGeneration?.(m.gen);
    else if (m.kind === "result") (this.pending.delete(m.id), p.resolve(m.value));
    else if (m.kind === "error") (this.pending.delete(m.id), p.reject(new OrtEngineError(m.error, this.where)));
  }

  private failAll(e: Error): void {
    this.closed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  call<T>(msg: HostRequest, onGeneration?: (g: Generation) => void): { id: number; done: Promise<T> } {
    if (this.closed) throw new Error(this.closed.message);
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onGeneration }));
    this.worker.postMessage({ ...msg, id });
    return { id, done };
  }

  /** A message about running request `id` that has no reply of its own (abort, more); dropped once it ended. */
  post(m: Extract<HostMessage, { kind: "abort" | "more" }>): void {
    if (!this.closed && this.pending.has(m.id)) this.worker.postMessage(m);
  }

  /** Asks the worker to stop request `id` between decode steps (its call then rejects). */
  abort(id: number): void {
    this.post({ id, kind: "abort" });
  }

  /** Releases the worker's sessions, then ends the thread; resolves once it has exited. */
  async dispose(): Promise<void> {
    try {
      if (!this.closed) await this.call<null>({ kind: "dispose" }).done;
    } finally {
      this.closed ??= new Error("the engine is disposed");
      await this.worker.terminate();
    }
  }
}
