/**
 * The registry: two JetStream KV buckets, `azr-<cluster>-actors` (name → ActorEntry) and
 * `azr-<cluster>-nodes` (node id → NodeEntry), JSON values so `nats kv get` shows them plainly.
 * Covers: reading, creating a name (refusing one that is alive), CAS transitions by revision
 * (a lost race retries on the fresh value), listing and watching. Not: deciding transitions
 * (node-agent.ts) or placement (placement.ts).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { MethodInfo } from "./define.ts";
import { ActorExistsError } from "./errors.ts";
import type { GpuInfo } from "./gpus.ts";
import { buckets } from "./names.ts";
import { NODE_STALE_MS } from "./placement.ts";

export type ActorState = "starting" | "alive" | "restarting" | "dead";

export interface Resources {
  cpu?: number;
  /** Whole GPUs (a fraction takes a whole device: share devices with `gpuShare` instead). */
  gpu?: number;
  /**
   * Colocation: actors on one node that name the same group may be given the same GPU indices
   * (e.g. a run's rollout engine and learner, which take turns). A device held only by the
   * group counts once, and a new member is given the group's devices first.
   */
  gpuShare?: string;
  /**
   * Within a share group: members naming the same spread key (the replicas of one actor) are
   * given devices that no other such member holds while the node has any, so two tensor-parallel
   * rollout engines cover four GPUs instead of stacking on the first two.
   */
  gpuSpread?: string;
  memoryMB?: number;
  /** Every label must match the node's label of the same key. */
  labels?: Record<string, string>;
}

export interface ActorEntry {
  name: string;
  node: string;
  pid: number;
  state: ActorState;
  restarts: number;
  maxRestarts: number;
  /** 1 for the first process, +1 per restart. */
  incarnation: number;
  startedAt: number;
  lastHeartbeat: number;
  methods: MethodInfo[];
  resources: Resources;
  /** The node's GPU indices given to this actor (its CUDA_VISIBLE_DEVICES); kept across restarts, freed when it is dead. */
  gpuIndices?: number[];
  /** Why the last process ended, when one did. */
  reason?: string;
}

export interface NodeEntry {
  id: string;
  host: string;
  pid: number;
  resources: { cpu: number; gpu: number; memoryMB: number; labels: Record<string, string> };
  /** The devices behind `resources.gpu` (index, model, memory); absent from agents older than GPU detection. */
  gpus?: GpuInfo[];
  /** Why the node has no GPUs (or fewer than it might): nvidia-smi missing or failing, or "advertised with --gpu". */
  gpuNote?: string;
  lastHeartbeat: number;
}

/**
 * A node silent this long has its actors marked dead ("lost") and its entry removed by a
 * surviving agent. Longer than NODE_STALE_MS (after which readers already show it as lost and
 * placement skips it), so an agent cut off from NATS for a moment keeps its actors.
 */
export const NODE_LOST_MS = 30_000;

/** Served actors (`cluster.serve`) run on `local-<pid>`: a process with no agent and no heartbeat. */
export function isLocalNode(id: string): boolean {
  return id.startsWith("local-");
}

/**
 * Why `node` (an actor's node id) can no longer run actors, or undefined while it can: its agent's
 * heartbeat is over NODE_STALE_MS old (the agent was SIGKILLed, or is cut off from NATS), or it
 * has no entry at all. Served actors' `local-` nodes have no agent: unknown, so undefined.
 */
export function nodeGone(node: string, nodes: readonly NodeEntry[], now = Date.now()): string | undefined {
  if (isLocalNode(node)) return undefined;
  const n = nodes.find((x) => x.id === node);
  if (!n) return `node ${node} is not registered (its agent is gone)`;
  const age = now - n.lastHeartbeat;
  if (age < NODE_STALE_MS) return undefined;
  return `node ${node} (agent pid ${n.pid} on ${n.host}) has sent no heartbeat for ${Math.round(age / 1000)} s`;
}

/**
 * The state to show or act on: the entry's own, except that an actor not yet dead whose node is
 * gone (see nodeGone) is "lost" — the registry says alive, but no agent supervises it and its
 * process has been or will be ended by its watchdog. `why` says which node and since when.
 */
export function actorLiveness(e: ActorEntry, nodes: readonly NodeEntry[], now = Date.now()): { state: ActorState | "lost"; why?: string } {
  if (e.state === "dead") return { state: e.state };
  const why = nodeGone(e.node, nodes, now);
  return why ? { state: "lost", why } : { state: e.state };
}

const DEFAULT_HISTORY = 5;
const enc = new TextEncoder();

function parse<T>(e: KvEntry | null): T | undefined {
  return e && e.operation === "PUT" && e.length > 0 ? (e.json<T>()) : undefined;
}

/** A transition lost its CAS race more times than is plausible: someone keeps rewriting the key. */
export class RegistryConflictError extends Error {
  override name = "RegistryConflictError";
}

export class Registry {
  private constructor(
    readonly actors: KV,
    readonly nodes: KV,
    private readonly jsm: JetStreamManager,
    private readonly names: { actors: string; nodes: string },
  ) {}

  static async open(nc: NatsConnection, cluster: string): Promise<Registry> {
    const kvm = new Kvm(nc);
    const names = { actors: buckets.actors(cluster), nodes: buckets.nodes(cluster) };
    const [actors, nodes, jsm] = await Promise.all([
      kvm.create(names.actors, { history: DEFAULT_HISTORY }),
      kvm.create(names.nodes, { history: 1 }),
      jetstreamManager(nc),
    ]);
    return new Registry(actors, nodes, jsm, names);
  }

  async get(name: string): Promise<ActorEntry | undefined> {
    return parse<ActorEntry>(await this.actors.get(name));
  }

  /** Claims `entry.name`; an existing entry is replaced only when it is dead. */
  async claim(entry: ActorEntry): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.actors.get(entry.name);
      const prev = parse<ActorEntry>(cur);
      try {
        if (!prev) {
          // create() fails if a value exists; a deleted key is re-creatable only through update.
          if (cur && cur.revision > 0) await this.actors.update(entry.name, enc.encode(JSON.stringify(entry)), cur.revision);
          else await this.actors.create(entry.name, enc.encode(JSON.stringify(entry)));
          return;
        }
        if (prev.state !== "dead") throw new ActorExistsError(entry.name, prev.state, prev.node);
        await this.actors.update(entry.name, enc.encode(JSON.stringify(entry)), cur!.revision);
        return;
      } catch (e) {
        if (e instanceof ActorExistsError) throw e;
        /* lost the race: read again */
      }
    }
    throw new RegistryConflictError(`could not claim actor name '${entry.name}': the registry entry kept changing`);
  }

  /**
   * Compare-and-set: applies `fn` to the current entry and writes the result at that revision,
   * retrying on a concurrent write. `fn` returning undefined leaves the entry as it is.
   */
  async transition(name: string, fn: (e: ActorEntry) => ActorEntry | undefined): Promise<ActorEntry | undefined> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.actors.get(name);
      const prev = parse<ActorEntry>(cur);
      if (!prev || !cur) return undefined;
      const next = fn(prev);
      if (!next) return prev;
      try {
        await this.actors.update(name, enc.encode(JSON.stringify(next)), cur.revision);
        return next;
      } catch {
        /* a concurrent write won: apply fn to the newer value */
      }
    }
    throw new RegistryConflictError(`registry entry '${name}' kept changing under 10 compare-and-set attempts`);
  }

  async list(): Promise<ActorEntry[]> {
    return this.#all<ActorEntry>(this.actors, this.names.actors);
  }

  async putNode(n: NodeEntry): Promise<void> {
    await this.nodes.put(n.id, enc.encode(JSON.stringify(n)));
  }

  async removeNode(id: string): Promise<void> {
    await this.nodes.delete(id);
  }

  async listNodes(): Promise<NodeEntry[]> {
    return this.#all<NodeEntry>(this.nodes, this.names.nodes);
  }

  /**
   * Every live value of a bucket. The keys come from one stream-info request (the subjects that
   * hold messages) rather than `kv.keys()`: that one runs an ordered push consumer which ends on
   * a "no more pending" message or an idle heartbeat, and after a consumer reset (30 s
   * heartbeats) a listing could stall for that long or, with the heartbeat missed, not end at
   * all — a request/reply is bounded by its timeout. Deleted keys keep a marker message; their
   * `get` is a DEL/PURGE entry, which `parse` drops.
   */
  async #all<T>(kv: KV, bucket: string): Promise<T[]> {
    const prefix = `$KV.${bucket}.`;
    const info = await this.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
    const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
    const vals = await Promise.all(keys.map(async (k) => parse<T>(await kv.get(k))));
    return vals.filter((v): v is Awaited<T> => v !== undefined) as T[];
  }

  /**
   * The other clusters on this server whose registry has an actor named `name` (not deleted),
   * with its state: for telling a user who named the wrong run which one holds it. Best effort:
   * an account without rights to list streams finds none.
   */
  async clustersHolding(name: string): Promise<{ cluster: string; state: ActorState }[]> {
    const found: { cluster: string; state: ActorState }[] = [];
    try {
      for await (const stream of this.jsm.streams.names()) {
        const m = /^KV_azr-(.+)-actors$/.exec(stream);
        if (!m || stream === `KV_${this.names.actors}`) continue;
        const msg = await this.jsm.streams.getMessage(stream, { last_by_subj: `$KV.azr-${m[1]}-actors.${name}` }).catch(() => null);
        const op = msg?.header?.get("KV-Operation");
        if (!msg || (op && op !== "PUT") || msg.data.length === 0) continue;
        found.push({ cluster: m[1], state: msg.json<ActorEntry>().state });
      }
    } catch {
      /* not allowed to list streams: no hint */
    }
    return found;
  }

  /** Every change to the actors bucket, starting with the current values. */
  async *watch(signal?: AbortSignal): AsyncGenerator<ActorEntry> {
    const it = await this.actors.watch();
    const stop = () => it.stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const e of it) {
        const v = parse<ActorEntry>(e as KvEntry);
        if (v) yield v;
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      it.stop();
    }
  }
}
