/**
 * Every NATS subject and JetStream bucket name the runtime uses, in one place, plus the check
 * that an actor or cluster name is a valid subject token. Not: header names (wire.ts).
 */

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Actor, node and cluster names become subject tokens and KV keys: letters, digits, `_`, `-`. */
export function checkName(kind: "actor" | "cluster" | "node", name: string): string {
  if (!NAME.test(name)) {
    throw new Error(`invalid ${kind} name '${name}': use 1-64 letters, digits, '_' or '-' (it becomes a NATS subject token)`);
  }
  return name;
}

export interface Subjects {
  /** Requests to an actor's methods. */
  call(actor: string): string;
  /** Control messages for in-flight calls (cancel, stream credit). */
  ctl(actor: string): string;
  /** Lifecycle events; `actor` may be `*` to follow all. */
  events(actor: string): string;
  /** An actor's stdout/stderr lines; `actor` may be `*`. */
  logs(actor: string): string;
  /** Finished spans of self-play steps, one JSON record each (telemetry-local.ts). */
  spans(): string;
}

export function subjects(cluster: string): Subjects {
  const p = `azr.${cluster}`;
  return {
    call: (a) => `${p}.actor.${a}.call`,
    ctl: (a) => `${p}.actor.${a}.ctl`,
    events: (a) => `${p}.events.${a}`,
    logs: (a) => `${p}.logs.${a}`,
    spans: () => `${p}.spans`,
  };
}

export const buckets = {
  actors: (cluster: string) => `azr-${cluster}-actors`,
  nodes: (cluster: string) => `azr-${cluster}-nodes`,
  state: (cluster: string) => `azr-${cluster}-state`,
  /** Spawn specs by actor name (spec-store.ts), and the arguments too large for a KV value. */
  specs: (cluster: string) => `azr-${cluster}-specs`,
  specArgs: (cluster: string) => `azr-${cluster}-spec-args`,
};

/** The internal actor name a node agent serves its control methods under. */
export function nodeServiceName(nodeId: string): string {
  return `_node-${nodeId}`;
}
