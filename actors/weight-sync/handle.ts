/**
 * The weight handle: what the learner returns when it publishes a weight version, the driver
 * passes on, and the rollout engine loads from. Small (no weight bytes) except for `inline`,
 * today's path kept as the fallback and for tests, where the tensors travel in it.
 *
 * Covers: the handle's fields, the transport names and the choice between them. Not: writing or
 * reading weights (publisher.ts, loader.ts).
 */

export const TRANSPORTS = ["shm", "object-store", "inline"] as const;
export type Transport = (typeof TRANSPORTS)[number];
/** A recipe's `resources.weightSync`: `auto` picks shm on one host, the object store across hosts. */
export type TransportChoice = "auto" | Transport;
export const TRANSPORT_CHOICES: readonly TransportChoice[] = ["auto", ...TRANSPORTS];

/**
 * What a version carries: `full` (every weight; full fine-tuning) or `lora-adapters` (only the
 * LoRA adapter tensors, PEFT names, fp32: the rollout engine merges them into the base it kept).
 */
export const WEIGHT_KINDS = ["full", "lora-adapters"] as const;
export type WeightKind = (typeof WEIGHT_KINDS)[number];

/**
 * A `lora-adapters` version's settings: the reader sets W = W_base + scale·B·A for each adapted
 * `<module>.weight` (PEFT: `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight`
 * [out, r]), always from its base, never on top of the previous version.
 */
export interface LoraInfo {
  r: number;
  alpha: number;
  /** alpha / r (PEFT's scaling without rsLoRA). */
  scale: number;
  /** PEFT module names the learner adapts (q_proj, …); the tensors say which modules are there. */
  targetModules: string[];
}

export interface WeightHandle {
  version: number;
  transport: Transport;
  kind: WeightKind;
  /** lora-adapters only. */
  lora?: LoraInfo;
  /** shm: the file's absolute path; object-store: `<bucket>/weights-v<N>` (for messages; `parts` locate it); inline: "". */
  location: string;
  /** Bytes of the safetensors file (inline: of the fp32 tensors); with lora-adapters, of the adapters alone. */
  bytes: number;
  /** hostIdentity() of the publisher (host.ts). */
  host: string;
  /** How long the learner took to publish this version (0 when an already published one was handed out again). */
  publishMs: number;
  /** object-store only: the references of the version's parts, in order (each loads once unless `readers` > 1). */
  parts?: Uint8Array[];
  /**
   * object-store only: how many rollout engines load this upload (a pool's replicas; default 1).
   * With one, its load consumes the parts; with more, loads leave them and the publisher deletes
   * them once a newer version is confirmed (all readers hold that one, so none still reads these).
   */
  readers?: number;
  /** inline only (lora-adapters: the adapters, PEFT names). */
  tensors?: Map<string, Float32Array>;
}

/** What the driver asks the learner for: the reader's host and, optionally, a forced transport. */
export interface PublishRequest {
  readerHost?: string;
  transport?: TransportChoice;
  /** Rollout engines that will load the handle (a rollout pool's replicas); default 1. */
  readers?: number;
}

/** `auto`: shm when publisher and reader share a host (and its shm folder), the object store otherwise. */
export function chooseTransport(choice: TransportChoice | undefined, publisherHost: string, readerHost: string | undefined): Transport {
  if (choice && choice !== "auto") return choice;
  return readerHost !== undefined && readerHost === publisherHost ? "shm" : "object-store";
}

/** Options the learner and rollout engine take for weight sync (azr selfplay fills them). */
export interface WeightSyncOptions {
  /** Names the run's shm folder and object store bucket; a run's next start cleans what a crash left. Default: per process. */
  runId?: string;
  /** The run's NATS servers, for the object store (NATS_URL and its credentials win when set). */
  nats?: { servers: string[] };
}

export function checkTransportChoice(v: unknown, where: string): TransportChoice {
  if (typeof v === "string" && (TRANSPORT_CHOICES as readonly string[]).includes(v)) return v as TransportChoice;
  throw new Error(`${where}: weight sync transport ${JSON.stringify(v)} is not one of ${TRANSPORT_CHOICES.join(", ")}`);
}

/**
 * A handle as received (over the wire, from a caller that may be stale or hostile), checked before
 * anything in it names a file: the version goes into file names and the engine's version, so it
 * must be a plain non-negative integer (a string like "../x" would name a path elsewhere); the
 * size is compared with the file's. Throws naming the field; the shm path itself is checked by
 * the loader, which knows the folder.
 */
export function checkHandle(h: unknown): WeightHandle {
  const bad = (what: string): never => {
    throw new WeightHandleError(`weight handle refused: ${what}; load only handles the learner's publishWeights returned`);
  };
  if (typeof h !== "object" || h === null) return bad(`it is ${h === null ? "null" : typeof h}, not an object`);
  const w = h as Record<string, unknown>;
  if (!Number.isSafeInteger(w.version) || (w.version as number) < 0) bad(`version ${JSON.stringify(w.version)} is not a non-negative integer`);
  if (!(TRANSPORTS as readonly unknown[]).includes(w.transport)) bad(`transport ${JSON.stringify(w.transport)} is not one of ${TRANSPORTS.join(", ")}`);
  if (w.kind !== undefined && !(WEIGHT_KINDS as readonly unknown[]).includes(w.kind)) bad(`kind ${JSON.stringify(w.kind)} is not one of ${WEIGHT_KINDS.join(", ")}`);
  if (!Number.isSafeInteger(w.bytes) || (w.bytes as number) < 0) bad(`bytes ${JSON.stringify(w.bytes)} is not a non-negative integer`);
  if (typeof w.location !== "string") bad(`location ${JSON.stringify(w.location)} is not a string`);
  if (w.kind === "lora-adapters") {
    const l = w.lora as Partial<LoraInfo> | undefined;
    // r divides tensor lengths and scale multiplies every adapted weight: a zero, negative or NaN one corrupts the model silently
    if (l && (!Number.isSafeInteger(l.r) || (l.r as number) <= 0 || !Number.isFinite(l.scale))) bad(`lora settings ${JSON.stringify({ r: l.r, scale: l.scale })} need a positive integer r and a finite scale`);
  }
  return h as WeightHandle;
}

/** A handle whose fields cannot be what a publisher wrote (not retried: the same handle fails the same way). */
export class WeightHandleError extends Error {
  override name = "WeightHandleError";
}
