/**
 * A NATS flush with a time limit, for shutdown paths. Every azr connection reconnects without
 * end (connection.ts), so a flush issued while the server is gone waits for a server that may
 * never come back; a process stopping its traces must not hang on that.
 */
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * How long a shutdown waits for the server to confirm a flush. A flush is one ping round trip
 * (milliseconds on a live server), so a few seconds only run out when the server is unreachable.
 */
export const FLUSH_TIMEOUT_MS = 3000;

/** Flushes `nc` within `ms`: "ok" when the server confirmed, else why not ("closed", "timeout" or the error's message). */
export async function flushWithin(nc: NatsConnection, ms = FLUSH_TIMEOUT_MS): Promise<string> {
  if (nc.isClosed()) return "closed";
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  try {
    return await Promise.race([nc.flush().then(() => "ok" as const, (e: Error) => e.message), late]);
  } finally {
    clearTimeout(timer);
  }
}
