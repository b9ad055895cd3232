/**
 * A data-parallel group of torch engine workers: one Python rank per GPU (NCCL) or `worldSize`
 * CPU ranks (gloo), driven in lockstep so the learner sees one trainer.
 *
 * Covers: starting the ranks with the standard torch.distributed environment (a free master port
 * on 127.0.0.1, RANK / WORLD_SIZE / LOCAL_RANK, each CUDA rank seeing exactly one of the given
 * device indices through CUDA_VISIBLE_DEVICES); trainStep / configureTraining / loadTrainingState on
 * every rank (every rank gets the whole batch and takes its share of the micro-batches,
 * azr_torch/training.py; the gradients are summed, so all ranks hold the same weights and
 * optimiser state after each step); getWeights / save / saveWeightsFile / saveTrainingState from rank 0 alone
 * (the others hold the same tensors); failure handling: a rank that dies or fails alone breaks
 * the group — the error names that rank, the other ranks are shut down (a rank blocked in a
 * collective or in the rendezvous is killed, never waited for), and every later call gets the
 * same error; a rank that lags `timeoutS` behind the first one to finish a call counts as failed.
 * An error every rank raised alike (a bad batch, no torch) is the call's error, not the group's:
 * it is rethrown as is and the group stays usable. worldSize 1 is a plain TorchEngine.
 * With `optim.fsdp` each rank holds a shard of the weights (azr_torch/fsdp.py): getWeights, save
 * and saveWeightsFile then run on every rank (they gather the weights), rank 0 answering.
 * With `tensorParallel` the group is one inference engine split over its ranks (the rollout engine
 * across GPUs, azr_torch/tensor_parallel.py): generate streams rank 0's sequences while every rank
 * computes its slice in step; score, setWeights, loadWeightsFile and the adapter calls run on
 * every rank, rank 0 answering.
 * Not: several nodes, restarts (the actor's).
 */
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import type { DeviceMemory, GenerateRequest, Generation, ScoreRequest, TrainSequence, TrainStats } from "../engine.ts";
import { findPython } from "../python.ts";
import { createTorchEngine, sumDeviceMemory, TorchEngine, type TorchEngineInfo, type TorchEngineOptions, type TorchLossOptions, type TorchOptimOptions, type TorchSaveOptions, type TorchDtype } from "./engine.ts";
import { TorchWorkerDiedError } from "./errors.ts";
import { WorkerClient } from "./worker-client.ts";

export interface TorchRankGroupOptions extends Omit<TorchEngineOptions, "distributed"> {
  /** CPU ranks (gloo). With `gpus`, it must equal their count or be left out. Default 1. */
  worldSize?: number;
  /**
   * Device indices as the node agent gives them (AZR_GPUS): one NCCL rank per index, each seeing
   * only its own GPU (as `cuda:0`). `device` must then be left out or be "cuda".
   */
  gpus?: readonly number[];
  /** Default: a free port on 127.0.0.1. */
  masterPort?: number;
  /** One inference engine split over the ranks (tensor parallel) instead of data-parallel learner ranks. */
  tensorParallel?: boolean;
  /**
   * torch.distributed's timeout for the rendezvous and each collective, and how long the other
   * ranks may take to finish a call once one rank has finished it. Default 300 s.
   */
  timeoutS?: number;
}

/** One rank died, failed alone or hung: the group is shut down and every call gets this error. */
export class TorchRankError extends Error {
  override readonly name = "TorchRankError";
  /** `method` null: the rank died while the group was idle. */
  constructor(readonly rank: number, readonly worldSize: number, readonly method: string | null, what: string, options?: ErrorOptions) {
    const cause = options?.cause instanceof Error ? `. ${options.cause.message}` : "";
    const when = method === null ? "between calls" : `during ${method}`;
    super(`torch rank ${rank} of ${worldSize} ${what} ${when}; the group's other ranks were shut down${cause}`, options);
  }
}

const DEFAULT_TIMEOUT_S = 300;
/** After a rank's failure, how long the others get to fail too (a peer's death reaches them as a
 *  closed connection) before the still-busy ones are killed: lets the report name the root cause. */
const FAILURE_GRACE_MS = 2000;
/** Closing a broken group: ranks blocked in a collective never read their stdin again. */
const SHUTDOWN_GRACE_MS = 1000;

export class TorchRankGroup implements AsyncDisposable {
  #broken: Error | null = null;
  #disposed: Promise<void> | null = null;
  /** Calls in flight: a rank that dies during one is reported by that call, with its cause. */
  #busy = 0;

  /**
   * @param ranks rank 0 first; for inspection (tests compare rank 1's weights with rank 0's).
   *   A collective call (trainStep) on one rank alone blocks it until its timeout.
   */
  private constructor(readonly ranks: readonly TorchEngine[], readonly timeoutS: number, readonly sharded = false, readonly tensorParallel = false) {
    // a rank that dies between calls takes the group down at once: the others would otherwise
    // hold their GPUs until the next call found out
    if (ranks.length > 1) {
      ranks.forEach((r, rank) => void r.worker.exited().then(() => {
        if (this.#broken || this.#busy > 0) return;
        this.#fail(new TorchRankError(rank, ranks.length, null, "died")).catch(() => {});
      }));
    }
  }

  /** Starts every rank; if any fails to start, the others are stopped before this rejects. */
  static async start(opts: TorchRankGroupOptions): Promise<TorchRankGroup> {
    const { worldSize: _w, gpus, masterPort: _p, timeoutS = DEFAULT_TIMEOUT_S, tensorParallel, ...engineOpts } = opts;
    const plan = rankPlan(opts);
    if (plan.worldSize === 1) {
      const env = gpus?.length ? { ...engineOpts.env, CUDA_VISIBLE_DEVICES: String(gpus[0]) } : engineOpts.env;
      return new TorchRankGroup([await createTorchEngine({ ...engineOpts, device: plan.device, env })], timeoutS);
    }
    const masterPort = opts.masterPort ?? (await freePort());
    const workers: (WorkerClient | undefined)[] = [];
    const engines = await lockstep("start", plan.worldSize, timeoutS, (rank) => {
      const worker = new WorkerClient({ python: engineOpts.python ?? findPython().path, env: rankEnv(engineOpts.env, rank, plan, masterPort), onStderr: engineOpts.onStderr });
      workers[rank] = worker;
      return TorchEngine.startOn(worker, { ...engineOpts, device: plan.device, tensorParallel, distributed: { rank, worldSize: plan.worldSize, masterPort, masterAddr: "127.0.0.1", timeoutS } });
    }).catch(async (e: unknown) => {
      await Promise.all(workers.map((w) => w?.close(SHUTDOWN_GRACE_MS)));
      throw e;
    });
    return new TorchRankGroup(engines, timeoutS, opts.optim?.fsdp === true, tensorParallel === true);
  }

  readonly backend = "torch" as const;

  get worldSize(): number {
    return this.ranks.length;
  }

  /** Rank 0's info (its `distributed` says rank 0 of worldSize; null for a group of one). */
  get info(): TorchEngineInfo {
    return this.ranks[0]!.info;
  }

  /** The ranks' process ids, rank 0 first. */
  get pids(): (number | undefined)[] {
    return this.ranks.map((r) => r.worker.pid);
  }

  /** Every rank's CUDA memory as of its last finished call, summed (one device a rank); undefined on CPU. */
  deviceMemory(): DeviceMemory | undefined {
    return sumDeviceMemory(this.ranks.map((r) => r.worker));
  }

  /** One optimiser step over the whole batch, split across the ranks; rank 0's statistics (all agree). */
  async trainStep(batch: TrainSequence[]): Promise<TrainStats> {
    return (await this.#all("trainStep", (e) => e.trainStep(batch)))[0]!;
  }

  async configureTraining(opts: { loss?: TorchLossOptions; optim?: TorchOptimOptions }): Promise<void> {
    await this.#all("configureTraining", (e) => e.configureTraining(opts));
  }

  /** Every rank restores the same optimiser state, step and RNG, so the ranks stay in step. */
  async loadTrainingState(dir: string): Promise<{ step: number }> {
    return (await this.#all("loadTrainingState", (e) => e.loadTrainingState(dir)))[0]!;
  }

  getWeights(): Promise<Map<string, Float32Array>> {
    return this.#fromRank0("getWeights", (e) => e.getWeights());
  }

  save(dir: string, opts?: TorchSaveOptions): Promise<void> {
    return this.#fromRank0("save", (e) => e.save(dir, opts));
  }

  /** What getWeights returns, as one safetensors file written by rank 0 (weight sync). */
  saveWeightsFile(path: string, opts?: { dtype?: TorchDtype }): Promise<{ bytes: number }> {
    return this.#fromRank0("saveWeightsFile", (e) => e.saveWeightsFile(path, opts));
  }

  /**
   * The whole optimiser state, written by rank 0 as one plain AdamW state (loadable by a group of
   * any size or one engine). Every rank takes part: with sharded moments (the default) each rank
   * sends its share to rank 0. The torch RNG differs per rank only under LoRA dropout;
   * loadTrainingState gives every rank rank 0's.
   */
  async saveTrainingState(dir: string): Promise<{ step: number }> {
    return (await this.#all("saveTrainingState", (e) => e.saveTrainingState(dir)))[0]!;
  }

  /** The weight version last installed (rank 0's; every rank installs each version). */
  get weightVersion(): number {
    return this.ranks[0]!.weightVersion;
  }

  /**
   * Tensor parallel: every rank runs the generation loop in step (rank 0's sampled tokens and
   * cancellation reach the others each step); rank 0's sequences stream out as they finish.
   * Breaking out of the loop or aborting `signal` cancels it on every rank.
   */
  async *generate(req: GenerateRequest & { maxBatch?: number }, signal?: AbortSignal): AsyncIterable<Generation> {
    const stop = new AbortController();
    signal?.throwIfAborted(); // as one engine's generate: an aborted call starts nothing
    const onAbort = () => stop.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const ready: Generation[] = [];
    const state: { done: boolean; failed: boolean; error: unknown; wake: (() => void) | null } = { done: false, failed: false, error: undefined, wake: null };
    const run = this.#all("generate", async (e) => {
      try {
        for await (const g of e.generate(req, stop.signal)) {
          if (e !== this.ranks[0]) continue; // the other ranks' sequences are the same ones
          ready.push(g);
          state.wake?.();
        }
      } catch (error) {
        // stopped by this call (the caller's signal, or it stopped reading): a rank whose stream had
        // not ended yet, while rank 0's had, did not fail (rank 0's cancellation, if any, stops
        // every rank at the same step); a rank that died still breaks the group
        if (stop.signal.aborted && !(error instanceof TorchWorkerDiedError)) return;
        throw error;
      }
    }).then(() => {}, (error: unknown) => { state.failed = true; state.error = error; })
      .finally(() => { state.done = true; state.wake?.(); });
    try {
      for (;;) {
        // as one engine's generate: an aborted signal ends the stream at once, with its reason
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException("generate aborted", "AbortError");
        if (ready.length) {
          yield ready.shift()!;
          continue;
        }
        if (state.done) {
          if (state.failed) throw state.error;
          return;
        }
        await new Promise<void>((resolve) => { state.wake = resolve; });
        state.wake = null;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!state.done) stop.abort(new Error("the caller stopped reading"));
      await run;
    }
  }

  /**
   * Per-token log-probs. Tensor parallel: every rank computes its slice of the whole batch (rank 0's
   * answer). Data parallel: every rank holds the whole model, so each scores a contiguous share of
   * the batch and the shares are joined in order (a LoRA learner's reference, on every GPU).
   */
  async score(req: ScoreRequest): Promise<Float32Array[]> {
    if (this.tensorParallel || this.worldSize === 1) return (await this.#all("score", (e) => e.score(req)))[0]!;
    if (req.prompts.length !== req.responses.length) return this.#first("score", (e) => e.score(req)); // rank 0 names the mismatch
    const n = req.prompts.length, per = Math.ceil(n / this.worldSize);
    // No collective runs here, so a share one rank refuses (a token id out of range) is the call's
    // error, not the group's; a rank that dies still ends the group.
    return this.#guard(async () => {
      const parts = await Promise.allSettled(this.ranks.map((e, rank) => {
        const from = Math.min(n, rank * per), to = Math.min(n, from + per);
        return from < to ? e.score({ ...req, prompts: req.prompts.slice(from, to), responses: req.responses.slice(from, to) }) : Promise.resolve([]);
      }));
      const dead = parts.findIndex((p) => p.status === "rejected" && died(p.reason));
      if (dead >= 0) throw new TorchRankError(dead, this.worldSize, "score", "died", { cause: (parts[dead] as PromiseRejectedResult).reason });
      const refused = parts.find((p): p is PromiseRejectedResult => p.status === "rejected");
      if (refused) throw refused.reason;
      return parts.flatMap((p) => (p as PromiseFulfilledResult<Float32Array[]>).value);
    });
  }

  /** A new weight version on every rank (each keeps its slice under tensor parallelism). */
  async setWeights(weights: Map<string, Float32Array>, version: number, opts: { partBytes?: number } = {}): Promise<void> {
    await this.#all("setWeights", (e) => e.setWeights(weights, version, opts));
  }

  async loadWeightsFile(path: string, version: number): Promise<void> {
    await this.#all("loadWeightsFile", (e) => e.loadWeightsFile(path, version));
  }

  async applyAdaptersFile(path: string, lora: { r: number; scale: number }, version: number): Promise<void> {
    await this.#all("applyAdaptersFile", (e) => e.applyAdaptersFile(path, lora, version));
  }

  async applyAdapters(adapters: Map<string, Float32Array>, lora: { r: number; scale: number }, version: number): Promise<void> {
    await this.#all("applyAdapters", (e) => e.applyAdapters(adapters, lora, version));
  }

  /** LoRA only, on every rank: off = the frozen base model (the reference policy), on = base + adapters. */
  async setAdapters(enabled: boolean): Promise<void> {
    await this.#all("setAdapters", (e) => e.setAdapters(enabled));
  }

  async dispose(): Promise<void> {
    this.#broken ??= new Error("the torch rank group was disposed");
    this.#disposed ??= Promise.all(this.ranks.map((r) => r.dispose())).then(() => {});
    await this.#disposed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #all<T>(method: string, call: (e: TorchEngine) => Promise<T>): Promise<T[]> {
    return this.#guard(() => lockstep(method, this.worldSize, this.timeoutS, (rank) => call(this.ranks[rank]!)));
  }

  /** Rank 0's answer: rank 0 alone when every rank holds the whole model, else every rank gathering. */
  async #fromRank0<T>(method: string, call: (e: TorchEngine) => Promise<T>): Promise<T> {
    return this.sharded ? (await this.#all(method, call))[0]! : this.#first(method, call);
  }

  /** Rank 0 alone: no collective is involved, but a dead rank 0 still ends the group. */
  #first<T>(method: string, call: (e: TorchEngine) => Promise<T>): Promise<T> {
    return this.#guard(() => call(this.ranks[0]!).catch((e: unknown) => {
      throw this.worldSize > 1 && died(e) ? new TorchRankError(0, this.worldSize, method, "died", { cause: e }) : e;
    }));
  }

  async #guard<T>(run: () => Promise<T>): Promise<T> {
    if (this.#broken) throw this.#broken;
    this.#busy++;
    try {
      return await run().catch((e: unknown) => this.#fail(e));
    } finally {
      this.#busy--;
    }
  }

  /** A TorchRankError ends the group (ranks closed, later calls get it); anything else is the call's own error. */
  async #fail(e: unknown): Promise<never> {
    if (e instanceof TorchRankError) {
      this.#broken ??= e;
      this.#disposed ??= Promise.all(this.ranks.map((r) => r.worker.close(SHUTDOWN_GRACE_MS))).then(() => {});
      await this.#disposed;
    }
    throw e;
  }
}

/** `createTorchEngine`'s counterpart for several ranks. */
export function createTorchRankGroup(opts: TorchRankGroupOptions): Promise<TorchRankGroup> {
  return TorchRankGroup.start(opts);
}

interface RankPlan {
  worldSize: number;
  device: string | undefined;
  gpus: readonly number[] | undefined;
}

function rankPlan(opts: TorchRankGroupOptions): RankPlan {
  const { gpus, device } = opts;
  if (gpus?.length) {
    if (opts.worldSize !== undefined && opts.worldSize !== gpus.length) {
      throw new Error(`torch rank group: worldSize ${opts.worldSize} but ${gpus.length} gpus (${gpus.join(",")}); one rank per GPU, leave worldSize out`);
    }
    if (device !== undefined && device !== "cuda" && device !== "cuda:0") {
      throw new Error(`torch rank group: device ${JSON.stringify(device)} with gpus ${gpus.join(",")}: each rank sees only its own GPU; leave device out or use "cuda"`);
    }
    return { worldSize: gpus.length, device: "cuda", gpus };
  }
  const worldSize = opts.worldSize ?? 1;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new Error(`torch rank group: worldSize must be a positive integer, got ${worldSize}`);
  if (worldSize > 1 && device !== undefined && device !== "cpu") {
    throw new Error(`torch rank group: ${worldSize} ranks on ${JSON.stringify(device)} need gpus (one device index per rank, e.g. the actor's AZR_GPUS); without gpus the ranks run on the CPU`);
  }
  return { worldSize, device, gpus: undefined };
}

/** The standard torch.distributed variables (the engine gets the same values as init arguments). */
function rankEnv(base: NodeJS.ProcessEnv | undefined, rank: number, plan: RankPlan, masterPort: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(plan.worldSize), LOCAL_WORLD_SIZE: String(plan.worldSize),
    MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(masterPort),
  };
  if (plan.gpus) {
    env.CUDA_VISIBLE_DEVICES = String(plan.gpus[rank]);
    // NCCL enforces the collective timeout only with async error handling: a stuck collective then
    // ends the process (which the group reports) instead of blocking it forever
    env.TORCH_NCCL_ASYNC_ERROR_HANDLING ??= process.env.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? "1";
  }
  return env;
}

/**
 * Runs `call` on every rank at once and waits for all. Fails with a TorchRankError naming the
 * rank at fault when one rank fails alone, dies (preferred as the cause over a peer's broken
 * collective), or is still busy `timeoutS` after another rank finished; rethrows rank 0's error
 * when every rank raised the same one (a deterministic error of the call). A group of one passes
 * its engine's result or error through unchanged.
 */
async function lockstep<T>(method: string, n: number, timeoutS: number, call: (rank: number) => Promise<T>): Promise<T[]> {
  if (n === 1) return [await call(0)];
  const values: T[] = [];
  const errors: (unknown | undefined)[] = [];
  const order: number[] = []; // ranks in the order their calls failed
  let pending = n;
  let wake: () => void = () => {};
  let firstDone = false;
  let timer: NodeJS.Timeout | undefined;
  let deadline: "grace" | "skew" | null = null;
  const settled = new Promise<void>((resolve) => { wake = resolve; });
  const arm = (kind: "grace" | "skew", ms: number) => {
    if (deadline === "grace") return;
    clearTimeout(timer);
    deadline = kind;
    timer = setTimeout(wake, ms);
  };
  for (let rank = 0; rank < n; rank++) {
    call(rank).then(
      (v) => { values[rank] = v; if (!firstDone) { firstDone = true; arm("skew", timeoutS * 1000); } },
      (e: unknown) => { errors[rank] = e; order.push(rank); arm("grace", FAILURE_GRACE_MS); },
    ).finally(() => { if (--pending === 0) wake(); });
  }
  await settled;
  clearTimeout(timer);
  if (order.length === 0 && pending === 0) return values;
  const busy = Array.from({ length: n }, (_, r) => r).filter((r) => !(r in values) && errors[r] === undefined);
  if (order.length === 0) {
    const others = busy.length > 1 ? ` (also still busy: rank ${busy.slice(1).join(", ")})` : "";
    throw new TorchRankError(busy[0]!, n, method, `did not finish within ${timeoutS} s of the first rank that did (a collective is stuck?)${others}`);
  }
  const sameEverywhere = order.length === n && !order.some((r) => died(errors[r])) &&
    order.every((r) => sameError(errors[r], errors[order[0]!]));
  if (sameEverywhere) throw errors[0];
  const culprit = order.find((r) => died(errors[r])) ?? order[0]!;
  const cause = errors[culprit];
  throw new TorchRankError(culprit, n, method, died(cause) ? "died" : "failed", { cause });
}

function died(e: unknown): boolean {
  return e instanceof TorchWorkerDiedError;
}

function sameError(a: unknown, b: unknown): boolean {
  return a instanceof Error && b instanceof Error && a.name === b.name && a.message === b.message;
}

/** A port free on 127.0.0.1 now; rank 0's TCP store binds it moments later. */
async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening"); // rejects on "error"
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, "close");
  return port;
}
