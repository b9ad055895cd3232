/**
 * The driver's side of weight sync: learner → rollout engine by handle, timed. The learner
 * publishes (publishWeights), the rollout engine loads (loadWeights), the learner is told the
 * version is held (confirmWeights) so it removes the older ones. No weight bytes pass through
 * the driver except on the `inline` transport.
 *
 * Covers: one sync and its report (the metrics line's `weightSync` and the progress log line),
 * the fallback for ports that only know the older full-weights calls (in-process test doubles).
 * Not: the transports (publisher.ts, loader.ts).
 */
import { checkTransportChoice, type PublishRequest, type TransportChoice, type WeightHandle } from "./handle.ts";

/** One sync, as written into metrics.jsonl (`weightSync`). */
export interface WeightSyncReport {
  version: number;
  transport: WeightHandle["transport"];
  /** full weights, or a LoRA learner's adapters only. */
  kind: WeightHandle["kind"];
  /** Size of what moved: the safetensors file (shm, object-store) or the fp32 tensors (inline); LoRA: of the adapters alone. */
  bytes: number;
  /** Learner: writing the version (and uploading it, object-store). */
  publishMs: number;
  /** Rollout engine: reading it into its live weights (and downloading it, object-store). */
  loadMs: number;
  /** Wall time of the whole sync as the driver saw it (calls included). */
  totalMs: number;
}

export interface SyncLearner {
  weights(): Promise<{ version: number; tensors: Map<string, Float32Array> }>;
  publishWeights?(req: PublishRequest): Promise<WeightHandle>;
  confirmWeights?(version: number): Promise<void>;
}

export interface SyncRollout {
  setWeights(weights: Map<string, Float32Array>, version: number): Promise<void>;
  loadWeights?(handle: WeightHandle): Promise<{ version: number; loadMs: number }>;
  hostId?(): Promise<string>;
  /** Engines behind this port that load each handle (a rollout pool's replicas); absent: 1. */
  readonly readers?: number;
}

/** Moves the learner's current version into the rollout engine; `transport` forces one (default auto). */
export async function syncWeights(learner: SyncLearner, rollout: SyncRollout, transport: TransportChoice = "auto"): Promise<WeightSyncReport> {
  checkTransportChoice(transport, "syncWeights (resources.weightSync)");
  const t0 = performance.now();
  if (!learner.publishWeights || !rollout.loadWeights) {
    const w = await learner.weights();
    const t1 = performance.now();
    await rollout.setWeights(w.tensors, w.version);
    const bytes = [...w.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
    const t2 = performance.now();
    return { version: w.version, transport: "inline", kind: "full", bytes, publishMs: t1 - t0, loadMs: t2 - t1, totalMs: t2 - t0 };
  }
  const readerHost = rollout.hostId ? await rollout.hostId() : undefined;
  const handle = await learner.publishWeights({ readerHost, transport, ...(rollout.readers && rollout.readers > 1 ? { readers: rollout.readers } : {}) });
  const { loadMs } = await rollout.loadWeights(handle);
  await learner.confirmWeights?.(handle.version);
  return { version: handle.version, transport: handle.transport, kind: handle.kind ?? "full", bytes: handle.bytes, publishMs: handle.publishMs, loadMs, totalMs: performance.now() - t0 };
}

/** The progress log's line for one sync. */
export function syncLine(r: WeightSyncReport): string {
  const mb = (r.bytes / 1e6).toFixed(r.bytes < 1e7 ? 2 : 0);
  return `weight sync v${r.version} → rollout-engine: ${r.transport}${r.kind === "lora-adapters" ? " (LoRA adapters)" : ""}, ${mb} MB, publish ${r.publishMs.toFixed(0)} ms, load ${r.loadMs.toFixed(0)} ms, total ${r.totalMs.toFixed(0)} ms`;
}
