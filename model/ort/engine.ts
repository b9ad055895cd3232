/**
 * OrtEngine: the `ort` backend of ModelEngine. A thin host-side client of one or more worker
 * threads (./worker.ts via ./lane.ts), each owning a copy of the weights, its onnxruntime
 * sessions and the tokenizer; generations stream back as they finish.
 * Batch lanes (./lanes.ts): for a small model the engine runs one worker per core, each on one
 * intra-op thread, and splits a generate (or score) batch across them; a large model keeps one
 * worker whose intra-op threads split each op. Sequence i samples from the stream of (seed, i)
 * whichever lane decodes it, so results do not depend on the lane count.
 * Covers: generate, score, weights in/out, save, dispose. Not: trainStep (model/train/).
 */
import type { ArchConfig } from "../config.ts";
import { readConfig } from "../config.ts";
import type { Weights } from "../checkpoint.ts";
import type { GenerateRequest, Generation, ModelEngine, ScoreRequest } from "../engine.ts";
import type { OrtEngineOptions, WorkerInit } from "./protocol.ts";
import { Lane } from "./lane.ts";
import { DEFAULT_MAX_BATCH, planLanes, splitIndices } from "./lanes.ts";
import { checkScoreRequest } from "../generate/score.ts";

export type { OrtEngineOptions } from "./protocol.ts";
export { OrtEngineError } from "./lane.ts";

export class OrtEngine implements ModelEngine {
  readonly backend = "ort" as const;
  private closed = false;
  /** The lane the next request's first share goes to (rotates, so small requests spread out). */
  private nextLane = 0;

  private constructor(
    private readonly workers: Lane[],
    private readonly maxBatchPerLane: number,
    readonly config: ArchConfig,
    readonly eosTokenIds: number[],
    readonly hasTokenizer: boolean,
    private readonly rebalance: boolean,
  ) {}

  /** Loads a Hugging Face model directory (config.json, safetensors, tokenizer.json), each lane in its own worker. */
  static fromPretrained(dir: string, options: OrtEngineOptions = {}): Promise<OrtEngine> {
    // config.json alone decides the lane count; a missing one is reported by the worker as before.
    let config: ArchConfig | undefined;
    try {
      config = readConfig(dir);
    } catch {}
    return OrtEngine.start((o) => ({ source: "dir", dir, options: o }), config, options);
  }

  /** Starts an engine on weights in memory (copied to each lane's worker). */
  static fromWeights(config: ArchConfig, weights: Weights, options: OrtEngineOptions = {}): Promise<OrtEngine> {
    return OrtEngine.start((o) => ({ source: "weights", config, weights, options: o }), config, options);
  }

  private static async start(init: (o: OrtEngineOptions) => WorkerInit, config: ArchConfig | undefined, options: OrtEngineOptions): Promise<OrtEngine> {
    const plan = config ? planLanes(config, options) : { lanes: 1, threadsPerLane: options.threads, maxBatchPerLane: options.maxBatch ?? DEFAULT_MAX_BATCH };
    const laneOptions: OrtEngineOptions = { ...options, threads: plan.threadsPerLane, maxBatch: plan.maxBatchPerLane };
    const where = (k: number) => (plan.lanes > 1 ? ` (lane ${k} of ${plan.lanes})` : "");
    const started = await Promise.allSettled(Array.from({ length: plan.lanes }, (_, k) => Lane.start(init(laneOptions), where(k))));
    const lanes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value.lane] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(lanes.map((l) => l.dispose().catch(() => {})));
      throw failed.reason;
    }
    const { ready } = (started[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof Lane.start>>>).value;
    return new OrtEngine(lanes, plan.maxBatchPerLane, ready.config, ready.eosTokenIds, ready.hasTokenizer, options.rebalance ?? false);
  }

  /** Worker threads (batch lanes) this engine runs. */
  get lanes(): number {
    return this.workers.length;
  }

  /** Lanes whose worker thread is still running (0 after dispose). */
  get liveLanes(): number {
    return this.workers.filter((l) => l.alive).length;
  }

  /** Shares of an n-item batch, one per lane used, rotating the first lane between requests. */
  private shares(n: number) {
    if (this.closed) throw new Error("the engine is disposed");
    const parts = splitIndices(n, this.workers.length, this.nextLane);
    this.nextLane = (this.nextLane + Math.max(1, parts.length)) % this.workers.length;
    return parts;
  }

  /**
   * One lane: the whole request, as before lanes. Several: each lane decodes a contiguous share
   * (its loop admits its prompts as its slots free up). With `rebalance`, each lane starts on at
   * most its maxBatch prompts and the rest are fed one per finished sequence to the lane that
   * finished it (a lane whose sequences end early takes more; see OrtEngineOptions.rebalance).
   * Every lane gets all prompts (token ids: small) and validates them all, so a bad request fails
   * the same way on any lane count.
   */
  async *generate(req: GenerateRequest, signal?: AbortSignal): AsyncIterable<Generation> {
    signal?.throwIfAborted();
    const n = req.prompts.length;
    const parts = this.shares(this.workers.length === 1 || !this.rebalance ? n : Math.min(n, this.workers.length * this.maxBatchPerLane));
    if (parts.length === 0) parts.push({ lane: this.nextLane, indices: [] }); // the worker validates and ends an empty request
    const whole = parts.length === 1 && parts[0].indices.length === n;
    let queued = parts.reduce((a, p) => a + p.indices.length, 0); // next prompt to feed
    const feeding = queued < n;
    const ready: Generation[] = [];
    let wake: (() => void) | undefined;
    let running = parts.length, failure: Error | undefined;
    const calls = parts.map(({ lane, indices }) => {
      const onGeneration = (g: Generation) => {
        ready.push(g);
        wake?.();
        if (feeding && queued < n && !failure) {
          // The finished sequence freed a slot in this lane: it takes the next waiting prompt.
          const last = ++queued === n;
          this.workers[lane].post({ id: c.id, kind: "more", indices: [queued - 1], last });
          if (last) for (const o of calls) if (o.id !== c.id || o.lane !== lane) this.workers[o.lane].post({ id: o.id, kind: "more", indices: [], last: true });
        }
      };
      const c = this.workers[lane].call<null>({ kind: "generate", req, indices: whole ? undefined : indices, feed: feeding || undefined }, onGeneration);
      // The first lane to fail decides the error; the others are aborted below.
      c.done.then(() => {}, (e: Error) => void (failure ??= e)).finally(() => (running--, wake?.()));
      return { lane, id: c.id };
    });
    const abortAll = () => calls.forEach((c) => this.workers[c.lane].abort(c.id));
    signal?.addEventListener("abort", abortAll, { once: true });
    try {
      for (;;) {
        while (ready.length) yield ready.shift()!;
        if (failure || running === 0) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      while (ready.length) yield ready.shift()!;
      if (failure) throw failure;
    } finally {
      signal?.removeEventListener("abort", abortAll);
      if (running > 0) abortAll(); // a lane failed or the consumer stopped early: stop computing
    }
  }

  async score(req: ScoreRequest): Promise<Float32Array[]> {
    if (this.workers.length > 1) checkScoreRequest(req.prompts, req.responses, this.config.vocabSize);
    const parts = this.shares(req.prompts.length);
    if (parts.length <= 1) return this.workers[parts[0]?.lane ?? 0].call<Float32Array[]>({ kind: "score", req }).done;
    const pick = <T>(a: T[], idx: number[]) => idx.map((i) => a[i]);
    const outs = await Promise.all(
      parts.map(({ lane, indices }) => this.workers[lane].call<Float32Array[]>({ kind: "score", req: { prompts: pick(req.prompts, indices), responses: pick(req.responses, indices) } }).done),
    );
    return outs.flat(); // shares are contiguous runs in order
  }

  getWeights(): Promise<Map<string, Float32Array>> {
    return this.workers[0].call<Map<string, Float32Array>>({ kind: "getWeights" }).done;
  }

  /** Every lane takes the new weights (each its own copy: worker threads share no memory). */
  async setWeights(weights: Map<string, Float32Array>, version: number): Promise<void> {
    await Promise.all(this.workers.map((l) => l.call<null>({ kind: "setWeights", weights, version }).done));
  }

  async save(dir: string): Promise<void> {
    await this.workers[0].call<null>({ kind: "save", dir }).done;
  }

  /** Releases every lane's sessions and ends every worker thread. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const r = await Promise.allSettled(this.workers.map((l) => l.dispose()));
    const failed = r.find((x) => x.status === "rejected");
    if (failed) throw failed.reason;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
