/**
 * Collects the large payloads that calls cut short leave in the object store: a request whose
 * actor was killed before it fetched the body, a reply whose caller's process died, an upload
 * killed mid-way. Without this they stay until the bucket's 24 h age limit — with model-sized
 * arguments, gigabytes of JetStream storage for a day.
 *
 * Covers: one sweep of the actors' payload bucket (objects and chunk sets older than a safe age)
 * and repeating it on a timer; node agents run it (node-agent.ts), being the long-lived processes
 * every run has. Not: deciding what is an orphan (PayloadStore.collectOrphans).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { DEFAULT_PAYLOAD_BUCKET, PayloadStore, type OrphanReport } from "./large-payload.ts";

/**
 * A payload is consumed when its receiver reads it, and a large request is read only when it
 * reaches the head of the actor's queue: the age has to outlast the longest queue wait as well
 * as the longest transfer. Two hours is far beyond both in a run, and well under the day the
 * bucket's own limit keeps orphans.
 */
export const DEFAULT_ORPHAN_AGE_MS = 2 * 3600_000;
/** A killed call's payload is gone at most this long after it reached the safe age. */
export const DEFAULT_ORPHAN_SWEEP_MS = 15 * 60_000;

export interface OrphanSweepOptions {
  /** Only objects and chunks older than this are collected. Default DEFAULT_ORPHAN_AGE_MS. */
  olderThanMs?: number;
  /** Sweep again this often. Default DEFAULT_ORPHAN_SWEEP_MS. */
  everyMs?: number;
  /** Default `azr-payloads`, the bucket calls use. */
  bucket?: string;
  /** Told of each sweep that removed something (for a log line). */
  onCollected?: (r: OrphanReport & { bucket: string; olderThanMs: number }) => void;
  /** Told of a sweep that failed; the next one tries again. */
  onError?: (e: Error) => void;
}

/**
 * One sweep. Undefined when there is nothing to sweep: no bucket yet (no call was ever large:
 * the sweep must not create it) or no JetStream on the server (then no call can be large).
 */
export async function sweepOrphanPayloads(nc: NatsConnection, o: Pick<OrphanSweepOptions, "olderThanMs" | "bucket"> = {}): Promise<OrphanReport | undefined> {
  const bucket = o.bucket ?? DEFAULT_PAYLOAD_BUCKET;
  let jsm;
  try {
    jsm = await jetstreamManager(nc);
    await jsm.streams.info(`OBJ_${bucket}`);
  } catch (e) {
    if (/stream not found|jetstream not enabled|no responders/i.test(String(e))) return undefined;
    throw e;
  }
  const store = await PayloadStore.open(nc, { bucket });
  return store.collectOrphans(o.olderThanMs ?? DEFAULT_ORPHAN_AGE_MS);
}

export interface OrphanSweep {
  /** Stops the timer and waits for a sweep under way. */
  stop(): Promise<void>;
}

/** Sweeps now (in the background) and every `everyMs`; one sweep at a time. */
export function startOrphanSweep(nc: NatsConnection, o: OrphanSweepOptions = {}): OrphanSweep {
  const olderThanMs = o.olderThanMs ?? DEFAULT_ORPHAN_AGE_MS;
  const bucket = o.bucket ?? DEFAULT_PAYLOAD_BUCKET;
  let stopped = false;
  let running: Promise<void> | undefined;
  const sweep = () => {
    if (stopped || running || nc.isClosed()) return;
    running = sweepOrphanPayloads(nc, { olderThanMs, bucket })
      .then((r) => {
        if (r && (r.objects.length > 0 || r.chunkSets > 0)) o.onCollected?.({ ...r, bucket, olderThanMs });
      })
      .catch((e: Error) => {
        if (!stopped) o.onError?.(e);
      })
      .finally(() => (running = undefined));
  };
  const timer = setInterval(sweep, o.everyMs ?? DEFAULT_ORPHAN_SWEEP_MS);
  timer.unref(); // housekeeping: never what keeps a process alive
  sweep();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
