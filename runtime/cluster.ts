/**
 * The public entry: `connect()` → a Cluster with `spawn`, `getActor`, `kill`, `restart`, `serve`
 * (host an actor in this process, like Ray's local mode), `events()`, `close()`. Covers: wiring
 * the connection, registry, client and (optionally) an in-process node agent together, placing
 * spawned actors. Not: any of those pieces' internals.
 *
 * ```ts
 * await using cluster = await connect({ agent: true });
 * const counter = await cluster.spawn(Counter, [10], { name: "counter", maxRestarts: 3 });
 * await counter.add(1);
 * ```
 */
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { ActorClient, type CallOptions } from "./client.ts";
import { connectOrEmbed, type ConnectionSpec, type Connected } from "./connection.ts";
import { describeMethods, requireActorMeta, type ActorClass, type ActorOptions } from "./define.ts";
import { ActorDefinitionError, ActorDiedError, ActorExistsError, ActorMethodError, ActorNotFoundError, PlacementError } from "./errors.ts";
import { ActorStartError } from "./actor-process.ts";
import { followEvents, publishEvent, type ActorEvent } from "./events.ts";
import { createHandle, handleRef, type Handle } from "./handle.ts";
import { ActorHost, STATS_METHOD, type ActorStats } from "./host.ts";
import { lookupActor } from "./lookup.ts";
import { followLogs, type LogLine } from "./logs.ts";
import { checkName, nodeServiceName } from "./names.ts";
import { NodeAgent, type NodeAgentOptions, type NodeServiceApi, type SpawnSpec } from "./node-agent.ts";
import { place } from "./placement.ts";
import { Registry, type ActorEntry, type NodeEntry, type Resources } from "./registry.ts";
import { StateStore } from "./state-store.ts";

export const DEFAULT_CLUSTER = "azr";

export interface ConnectOptions {
  /** Subject and bucket namespace; several clusters can share one server. Default "azr". */
  cluster?: string;
  /** Where to connect; default: from NATS_* env vars, else an embedded nats-server. */
  connection?: ConnectionSpec;
  /**
   * Use this connection instead of opening one. `connection` then tells agents how actor
   * processes connect; without it they get nc's server and no credentials or TLS settings.
   */
  nc?: NatsConnection;
  /** Run folder: embedded server store and actor logs. Default `./runs/<cluster>`. */
  runDir?: string;
  /** Start a node agent in this process, so spawn works with no other process. */
  agent?: boolean | Partial<Omit<NodeAgentOptions, "nc" | "connection" | "cluster">>;
}

export interface SpawnOptions {
  name: string;
  resources?: Resources;
  /** Restarts after a crash before the actor is declared dead. Default 0. */
  maxRestarts?: number;
  /** Pin to this node id instead of placing by resources. */
  node?: string;
  /** Discard a state saved by an earlier actor of this name instead of resuming it. */
  freshState?: boolean;
  startTimeoutMs?: number;
}

export interface ServeOptions<A extends object> extends ActorOptions<A> {
  name: string;
  /** How long kill() waits for the calls in flight to end (their signals are aborted first); default STOP_GRACE_MS. */
  stopGraceMs?: number;
}

export class Cluster {
  readonly name: string;
  readonly nc: NatsConnection;
  readonly spec: ConnectionSpec;
  readonly runDir: string;
  readonly client: ActorClient;
  readonly registry: Registry;
  readonly agent?: NodeAgent;
  readonly #states: StateStore;
  readonly #local = new Map<string, ActorHost>();
  /** Actors this Cluster spawned, by name: close() stops those on other nodes' agents. */
  readonly #spawned = new Set<string>();
  readonly #conn?: Connected;
  #closing?: Promise<void>;

  private constructor(p: {
    name: string;
    nc: NatsConnection;
    spec: ConnectionSpec;
    runDir: string;
    client: ActorClient;
    registry: Registry;
    states: StateStore;
    conn?: Connected;
    agent?: NodeAgent;
  }) {
    this.name = p.name;
    this.nc = p.nc;
    this.spec = p.spec;
    this.runDir = p.runDir;
    this.client = p.client;
    this.registry = p.registry;
    this.#states = p.states;
    this.#conn = p.conn;
    this.agent = p.agent;
  }

  static async connect(opts: ConnectOptions = {}): Promise<Cluster> {
    const name = checkName("cluster", opts.cluster ?? DEFAULT_CLUSTER);
    const runDir = opts.runDir ?? join(process.cwd(), "runs", name);
    let conn: Connected | undefined;
    let nc: NatsConnection;
    let spec: ConnectionSpec;
    if (opts.nc) {
      nc = opts.nc;
      spec = opts.connection ?? { servers: [nc.getServer()] };
    } else {
      conn = await connectOrEmbed({ spec: opts.connection, runDir, name: `azr-${name}-${process.pid}` });
      ({ nc, spec } = conn);
    }
    try {
      const [client, registry, states] = await Promise.all([ActorClient.start(nc, name), Registry.open(nc, name), StateStore.open(nc, name)]);
      const agentOpts = opts.agent === true ? {} : opts.agent || undefined;
      const agent = agentOpts ? await NodeAgent.start({ runDir, ...agentOpts, nc, connection: spec, cluster: name }) : undefined;
      return new Cluster({ name, nc, spec, runDir, client, registry, states, conn, agent });
    } catch (e) {
      await conn?.close();
      throw e;
    }
  }

  #handle<T>(name: string, methods: ActorEntry["methods"]): Handle<T> {
    return createHandle<T>({ name, methods, client: this.client, options: {} });
  }

  #node(id: string): Handle<NodeServiceApi> {
    return this.#handle<NodeServiceApi>(nodeServiceName(id), describeMethods(NodeAgentServiceShape));
  }

  /** Calls a node agent; the runtime's own errors thrown there are re-thrown here as their classes. */
  async #nodeCall<T>(id: string, fn: (n: Handle<NodeServiceApi>) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#node(id));
    } catch (e) {
      throw localizeRuntimeError(e);
    }
  }

  /** Starts `cls` in its own process on a node whose free resources fit; resolves once it serves calls. */
  async spawn<C extends ActorClass>(cls: C, args: ConstructorParameters<C>, opts: SpawnOptions): Promise<Handle<InstanceType<C>>> {
    checkName("actor", opts.name);
    const meta = requireActorMeta(cls);
    const mod = (await import(meta.moduleUrl)) as Record<string, unknown>;
    if (mod[meta.exportName] !== cls) {
      throw new ActorDefinitionError(`class ${cls.name} is not exported as '${meta.exportName}' from ${meta.moduleUrl}: export it under its class name`);
    }
    const resources = opts.resources ?? {};
    const [nodes, actors] = await Promise.all([this.registry.listNodes(), this.registry.list()]);
    const nodeId = place(opts.name, resources, nodes, actors, { node: opts.node });
    const spec: SpawnSpec = {
      name: opts.name,
      moduleUrl: meta.moduleUrl,
      exportName: meta.exportName,
      args,
      resources,
      maxRestarts: opts.maxRestarts ?? 0,
      concurrent: [...meta.concurrent],
      checkpoint: meta.checkpoint,
      freshState: opts.freshState ?? false,
      startTimeoutMs: opts.startTimeoutMs,
      owner: this.agent?.id,
    };
    const entry = await this.#nodeCall(nodeId, (n) => n.spawnActor(spec));
    this.#spawned.add(entry.name);
    return this.#handle<InstanceType<C>>(entry.name, entry.methods);
  }

  /** A handle to the named actor; throws ActorNotFoundError if the name was never registered. */
  getActor<T extends object>(name: string): Promise<Handle<T>> {
    return lookupActor<T>(this.registry, this.client, name);
  }

  /**
   * Serves `instance` from this process under `name` (Ray's local mode): same wire, registry
   * entry and events as a spawned actor, but no restarts. Useful for drivers and tests.
   */
  async serve<A extends object>(instance: A, opts: ServeOptions<A>): Promise<Handle<A>> {
    const name = checkName("actor", opts.name);
    const methods = describeMethods(instance, opts.concurrent ?? []);
    const now = Date.now();
    const entry: ActorEntry = {
      name,
      node: `local-${process.pid}`,
      pid: process.pid,
      state: "alive",
      restarts: 0,
      maxRestarts: 0,
      incarnation: 1,
      startedAt: now,
      lastHeartbeat: now,
      methods,
      resources: {},
    };
    const withState = instance as { loadState?: (s: unknown) => unknown };
    if (typeof withState.loadState === "function") {
      const saved = await this.#states.load(name);
      if (saved !== undefined) await withState.loadState(saved);
    }
    await this.registry.claim(entry);
    const host = await ActorHost.start({
      nc: this.nc,
      cluster: this.name,
      name,
      instance,
      methods,
      checkpoint: opts.checkpoint ?? "after-each-call",
      persistState: (s) => this.#states.save(name, s),
      getActor: (n) => this.getActor(n),
      payloads: this.client.payloads,
      stopGraceMs: opts.stopGraceMs,
    });
    this.#local.set(name, host);
    publishEvent(this.nc, this.name, { type: "started", actor: name, node: entry.node, incarnation: 1, pid: process.pid, at: now });
    return this.#handle<A>(name, methods);
  }

  /** Stops the actor for good (a spawned one on its node, a served one here). */
  async kill(actor: string | object, reason = "killed on request"): Promise<void> {
    const name = typeof actor === "string" ? actor : handleRef(actor).name;
    this.#spawned.delete(name); // killed on purpose: a later actor of this name is not ours to stop at close()
    const local = this.#local.get(name);
    if (local) {
      this.#local.delete(name);
      // Calls in flight fail now (at-most-once, as for a killed process), not once their
      // methods have noticed the abort: stop() has stopped taking calls before it awaits.
      const stopped = local.stop();
      await this.registry.transition(name, (x) => ({ ...x, state: "dead", reason }));
      publishEvent(this.nc, this.name, { type: "killed", actor: name, node: `local-${process.pid}`, incarnation: 1, reason, at: Date.now() });
      await stopped;
      return;
    }
    const e = await this.registry.get(name);
    if (!e) throw await this.#notFound(name);
    if (e.state === "dead") return;
    try {
      await this.#nodeCall(e.node, (n) => n.killActor(name, reason));
    } catch (err) {
      if (!(err instanceof ActorDiedError)) throw err;
      // The agent says it is dead already (it died after we read the entry): nothing to stop.
      if (err.actor !== nodeServiceName(e.node)) return;
      // The node (or the process that served it locally) is gone: nobody else will mark it dead.
      await this.registry.transition(name, (x) => (x.state === "dead" ? undefined : { ...x, state: "dead", reason: `${reason}; its node ${e.node} is gone` }));
    }
  }

  /**
   * Replaces the actor's process with a new incarnation (its saved state is loaded). One in its
   * crash back-off is started at once, one starting is restarted once up. A dead actor is refused
   * with ActorDiedError saying so: no agent holds what it was started with (class, arguments,
   * resources), and its resources may have gone to others — spawning it again re-checks both.
   */
  async restart(actor: string | object): Promise<ActorEntry> {
    const name = typeof actor === "string" ? actor : handleRef(actor).name;
    if (this.#local.has(name)) throw new ActorDiedError(name, "it is served by this process (cluster.serve), which cannot restart it: kill it and serve it again");
    const e = await this.registry.get(name);
    if (!e) throw await this.#notFound(name);
    if (e.state === "dead") {
      throw new ActorDiedError(name, `it is dead (${e.reason ?? "no reason recorded"}); restart replaces a running actor's process: spawn it again (its saved state is loaded unless freshState)`);
    }
    try {
      return await this.#nodeCall(e.node, (n) => n.restartActor(name));
    } catch (err) {
      if (!(err instanceof ActorDiedError) || err.actor !== nodeServiceName(e.node)) throw err;
      throw new ActorDiedError(name, `its node ${e.node} is gone (no agent answers for it), so nothing can restart it there: spawn it again on a live node`, { cause: err });
    }
  }

  /** ActorNotFoundError, naming the other clusters on this server that have an actor of this name. */
  async #notFound(name: string): Promise<ActorNotFoundError> {
    const elsewhere = await this.registry.clustersHolding(name);
    if (!elsewhere.length) return new ActorNotFoundError(name, this.name, "check the name with `azr actors` (and --cluster, --run-dir or --nats if it is another run's)");
    const where = elsewhere.map((x) => `'${x.cluster}' (${x.state})`).join(", ");
    return new ActorNotFoundError(name, this.name, `an actor of that name is in cluster ${where}: pass --cluster ${elsewhere[0].cluster}`);
  }

  /** The actor's call statistics (calls, errors, p50/p99 latency, rate, queue depth), from the actor itself. */
  async stats(actor: string, opts: CallOptions = { timeoutMs: 5000 }): Promise<ActorStats> {
    return (await this.client.call(actor, STATS_METHOD, [], opts)) as ActorStats;
  }

  /** Untyped call, for tools that only know names (the CLI). */
  call(actor: string, method: string, args: unknown[], opts?: CallOptions): Promise<unknown> {
    return this.client.call(actor, method, args, opts);
  }

  /** Lifecycle events (started, died, restarted, dead, killed) of every actor, or one. */
  events(opts: { actor?: string; signal?: AbortSignal } = {}): AsyncGenerator<ActorEvent> {
    return followEvents(this.nc, this.name, opts);
  }

  /** Live log lines of one actor, or all; the actor processes' stdout/stderr. */
  logs(actor = "*", signal?: AbortSignal): AsyncGenerator<LogLine> {
    return followLogs(this.nc, this.name, actor, signal);
  }

  actors(): Promise<ActorEntry[]> {
    return this.registry.list();
  }

  nodes(): Promise<NodeEntry[]> {
    return this.registry.listNodes();
  }

  /**
   * Stops served actors, the actors this Cluster spawned on other nodes' agents, and the
   * in-process agent (its actors die), then the connection and any embedded server.
   */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      for (const name of [...this.#local.keys()]) await this.kill(name, "cluster closed").catch(() => undefined);
      // Spawned actors share their spawner's fate (Ray's non-detached actors): a standalone agent on
      // another machine would otherwise keep them running (CPU, memory, GPUs) after the run ended,
      // and their fixed names make the next run's spawn fail with ActorExistsError. Those on our
      // own agent stop with it below. A node that is gone has the entry marked dead by kill().
      const remote = await Promise.all([...this.#spawned].map((n) => this.registry.get(n).catch(() => undefined)));
      await Promise.all(remote
        .filter((e): e is ActorEntry => e !== undefined && e.state !== "dead" && e.node !== this.agent?.id)
        .map((e) => this.kill(e.name, "cluster closed").catch(() => undefined)));
      await this.agent?.close();
      this.client.close();
      await this.#conn?.close();
    })());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The method table of a node agent's service, for building its handle without an instance. */
class NodeAgentServiceShape {
  async spawnActor() {}
  async killActor() {}
  async restartActor() {}
  async info() {}
  async pids() {}
}

/** Runtime errors a node agent may throw, by name, so callers can `instanceof` them. */
const RUNTIME_ERRORS: Record<string, { prototype: Error }> = {
  ActorDiedError,
  ActorExistsError,
  ActorNotFoundError,
  ActorDefinitionError,
  ActorStartError,
  PlacementError,
};

function localizeRuntimeError(e: unknown): unknown {
  if (!(e instanceof ActorMethodError) || !RUNTIME_ERRORS[e.name]) return e;
  // Same class, message, remote stack and fields (ActorExistsError's actor, state and node…).
  const local = Object.create(RUNTIME_ERRORS[e.name].prototype) as Error;
  Object.assign(local, e.data);
  Object.defineProperties(local, {
    name: { value: e.name, configurable: true, writable: true },
    message: { value: e.message, configurable: true, writable: true },
    stack: { value: e.stack, configurable: true, writable: true },
    cause: { value: e, configurable: true, writable: true },
  });
  return local;
}

export function connect(opts: ConnectOptions = {}): Promise<Cluster> {
  return Cluster.connect(opts);
}
