/**
 * Actor lifecycle events, published by node agents on `azr.<cluster>.events.<actor>` and read as
 * an async iterable (`cluster.events()`). A discriminated union on `type`. Clients also read
 * them to fail calls in flight to an incarnation that died. Not: the registry (registry.ts),
 * which holds the current state; events are the transitions.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { decode, encode } from "./codec.ts";
import { subjects } from "./names.ts";

interface EventBase {
  actor: string;
  node: string;
  /** Counts the actor's processes: 1 for the first, +1 per restart. */
  incarnation: number;
  at: number;
}

export type ActorEvent =
  | (EventBase & { type: "started"; pid: number })
  | (EventBase & { type: "died"; reason: string; willRestart: boolean })
  | (EventBase & { type: "restarted"; pid: number; restarts: number })
  | (EventBase & { type: "dead"; reason: string; restarts: number })
  | (EventBase & { type: "killed"; reason: string });

export function publishEvent(nc: NatsConnection, cluster: string, e: ActorEvent): void {
  nc.publish(subjects(cluster).events(e.actor), encode(e));
}

/**
 * Follows the events of all actors (or one) until `signal` aborts or the connection closes. The
 * subscription is made at once (not on the first `next()`), so no event published after this
 * call returns is missed once the server has it (`await nc.flush()` to be sure).
 */
export function followEvents(nc: NatsConnection, cluster: string, opts: { actor?: string; signal?: AbortSignal } = {}): AsyncGenerator<ActorEvent> {
  const sub = nc.subscribe(subjects(cluster).events(opts.actor ?? "*"));
  const stop = () => sub.unsubscribe();
  opts.signal?.addEventListener("abort", stop, { once: true });
  return (async function* () {
    try {
      for await (const m of sub) {
        try {
          yield decode<ActorEvent>(m.data);
        } catch {
          /* not an event: someone else published on our subject */
        }
      }
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      sub.unsubscribe();
    }
  })();
}
