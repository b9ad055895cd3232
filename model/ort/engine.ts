/**
 * OrtEngine: the `ort` backend of ModelEngine. A thin host-side client of a worker thread
 * (./worker.ts) that owns weights, onnxruntime sessions and the tokenizer; generations stream
 * back as they finish. Covers: generate, score, weights in/out, save, dispose.
 * Not: trainStep (the training issue adds it on the same graph builder).
 */
import { Worker } from "node:worker_threads";
import type { ArchConfig } from "../config.ts";
import type { Weights } from "../checkpoint.ts";
import type { GenerateRequest, Generation, ModelEngine, ScoreRequest } from "../engine.ts";
import type { HostMessage, OrtEngineOptions, RemoteError, WorkerInit, WorkerMessage } from "./protocol.ts";

export type { OrtEngineOptions } from "./protocol.ts";

/** An error thrown inside the engine's worker, re-thrown here with the worker's stack. */
export class OrtEngineError extends Error {
  override name = "OrtEngineError";
  constructor(readonly remote: RemoteError) {
    super(`${remote.name}: ${remote.message}`);
    if (remote.stack) this.stack = `${this.stack}\n    --- in the engine worker ---\n${remote.stack}`;
  }
}

type HostRequest = HostMessage extends infer M ? (M extends HostMessage ? Omit<M, "id"> : never) : never;

interface Pending {
  onGeneration?: (g: Generation) => void;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class OrtEngine implements ModelEngine {
  readonly backend = "ort" as const;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(private readonly worker: Worker, readonly config: ArchConfig, readonly eosTokenIds: number[], readonly hasTokenizer: boolean) {
    worker.on("message", (m: WorkerMessage) => this.onMessage(m));
    worker.on("error", (e) => this.failAll(e));
    worker.on("exit", (code) => this.failAll(new Error(`the engine worker exited (code ${code})`)));
  }

  /** Loads a Hugging Face model directory (config.json, safetensors, tokenizer.json) in a new worker. */
  static fromPretrained(dir: string, options: OrtEngineOptions = {}): Promise<OrtEngine> {
    return OrtEngine.start({ source: "dir", dir, options });
  }

  /** Starts an engine on weights in memory (they are copied to the worker). */
  static fromWeights(config: ArchConfig, weights: Weights, options: OrtEngineOptions = {}): Promise<OrtEngine> {
    return OrtEngine.start({ source: "weights", config, weights, options });
  }

  private static start(init: WorkerInit): Promise<OrtEngine> {
    // worker-entry.mjs registers tsx in the new thread, then loads ./worker.ts.
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the engine worker exited during start-up (code ${code})`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (m: WorkerMessage) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (m.kind === "ready") resolve(new OrtEngine(worker, m.config, m.eosTokenIds, m.hasTokenizer));
        else if (m.kind === "initError") {
          void worker.terminate();
          reject(new OrtEngineError(m.error));
        }
      });
    });
  }

  private onMessage(m: WorkerMessage): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "generation") p.onGeneration?.(m.gen);
    else if (m.kind === "result") (this.pending.delete(m.id), p.resolve(m.value));
    else if (m.kind === "error") (this.pending.delete(m.id), p.reject(new OrtEngineError(m.error)));
  }

  private failAll(e: Error): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call<T>(msg: HostRequest, onGeneration?: (g: Generation) => void): { id: number; done: Promise<T> } {
    if (this.closed) throw new Error("the engine is disposed");
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onGeneration }));
    this.worker.postMessage({ ...msg, id });
    return { id, done };
  }

  async *generate(req: GenerateRequest, signal?: AbortSignal): AsyncIterable<Generation> {
    signal?.throwIfAborted();
    const ready: Generation[] = [];
    let wake: (() => void) | undefined;
    const { id, done } = this.call<null>({ kind: "generate", req }, (g) => {
      ready.push(g);
      wake?.();
    });
    let finished = false, failure: Error | undefined;
    done.then(() => (finished = true), (e: Error) => ((failure = e), (finished = true))).finally(() => wake?.());
    const onAbort = () => this.worker.postMessage({ id, kind: "abort" } satisfies HostMessage);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        while (ready.length) yield ready.shift()!;
        if (finished) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      while (ready.length) yield ready.shift()!;
      if (failure) throw failure;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!finished) onAbort(); // the consumer stopped early: stop computing
    }
  }

  score(req: ScoreRequest): Promise<Float32Array[]> {
    return this.call<Float32Array[]>({ kind: "score", req }).done;
  }

  getWeights(): Promise<Map<string, Float32Array>> {
    return this.call<Map<string, Float32Array>>({ kind: "getWeights" }).done;
  }

  async setWeights(weights: Map<string, Float32Array>, version: number): Promise<void> {
    await this.call<null>({ kind: "setWeights", weights, version }).done;
  }

  async save(dir: string): Promise<void> {
    await this.call<null>({ kind: "save", dir }).done;
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    await this.call<null>({ kind: "dispose" }).done;
    this.closed = true;
    await this.worker.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
