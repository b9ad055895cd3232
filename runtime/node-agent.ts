/**
 * The node agent: one per machine (or process). Covers: advertising the node's resources
 * (cpu, memory, labels, and the GPUs nvidia-smi lists unless a count is given) in the nodes
 * bucket with a heartbeat; starting actor processes on request (re-checking that they fit, and
 * giving each its GPU indices through CUDA_VISIBLE_DEVICES — empty for an actor that asked for
 * none, so it cannot take a GPU by accident) and storing each one's spawn spec cluster-wide
 * (spec-store.ts); supervising them: a crashed actor is restarted up to `maxRestarts` with
 * exponential back-off, a hung one (no heartbeat) is killed and restarted; registry transitions
 * and lifecycle events for each; logs per actor; kill and restart on request. Of lost nodes
 * (silent for NODE_LOST_MS), what concerns this node's own actors: starting an actor another
 * agent's sweep re-placed here (adopt), stopping actors here whose spawning run was on a lost
 * node, and, once back from being cut off, stopping its copies of actors declared lost or
 * re-placed elsewhere meanwhile. Its control methods are served as an actor named
 * `_node-<id>`, so they use the same wire, errors and large-payload path as any call.
 * Not: the sweep that finds lost nodes and re-places or marks dead their actors (lost-nodes.ts,
 * looked at on each heartbeat); choosing the node of a spawn (placement.ts, called by the spawner).
 */
import { availableParallelism, hostname, totalmem } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/nats-core";
import { ActorClient } from "./client.ts";
import type { ConnectionSpec } from "./connection.ts";
import { describeMethods, type CheckpointPolicy, type MethodInfo } from "./define.ts";
import { ActorDiedError, ActorNotFoundError, PlacementError } from "./errors.ts";
import { publishEvent, type ActorEvent } from "./events.ts";
import { ActorHost } from "./host.ts";
import type { AttachServer } from "./attach-server.ts";
import { nodeShellEnabled, refuseNodeShell, serveNodeShell } from "./attach-shell.ts";
import { ActorLog } from "./logs.ts";
import { LostNodeSweeper } from "./lost-nodes.ts";
import { lookupActor } from "./lookup.ts";
import { checkName, nodeServiceName } from "./names.ts";
import { advertisedGpus, detectGpus, type GpuDetection } from "./gpus.ts";
import { assignGpus, fits, freeResources, groupGpuIndices, NODE_STALE_MS, spreadGpuIndices } from "./placement.ts";
import { ActorProcess, ActorStartError, DEFAULT_START_TIMEOUT_MS, STOP_GRACE_MS } from "./actor-process.ts";
import { startOrphanSweep, type OrphanSweep, type OrphanSweepOptions } from "./payload-sweep.ts";
import { NODE_LOST_MS, Registry, RegistryConflictError, type ActorEntry, type NodeEntry, type Resources } from "./registry.ts";
import { SpecStore, type StoredSpec } from "./spec-store.ts";
import { StateStore } from "./state-store.ts";
import { processAlive } from "./process-alive.ts";

export const DEFAULT_NODE_HEARTBEAT_MS = 2000;
/** The wait between tries of a registry write the server did not answer (it is restarting). */
const REGISTRY_RETRY_MS = 1000;

/** Another live agent already uses this node id. */
export class NodeIdTakenError extends Error {
  override name = "NodeIdTakenError";
}
/** An actor that has not sent a heartbeat for this long is killed (and restarted if allowed). */
export const DEFAULT_HANG_MS = 60_000;

/** The wait before restarting a crashed actor: `firstMs · 2^k` before restart k+1, at most `maxMs`. */
export interface RestartBackoff {
  firstMs: number;
  maxMs: number;
}
export const DEFAULT_RESTART_BACKOFF: RestartBackoff = { firstMs: 100, maxMs: 5000 };

/** The wait before the next restart of an actor that has been restarted `restarts` times. */
export function restartBackoffMs(restarts: number, b: RestartBackoff = DEFAULT_RESTART_BACKOFF): number {
  return Math.min(b.firstMs * 2 ** restarts, b.maxMs);
}

/**
 * The GPU environment of an actor process: CUDA_VISIBLE_DEVICES for CUDA libraries, AZR_GPUS
 * (the same list) for our own code. Empty for an actor given no GPU, so a library that would
 * pick GPU 0 by default sees none.
 */
export function gpuEnv(indices: readonly number[]): { CUDA_VISIBLE_DEVICES: string; AZR_GPUS: string } {
  const list = indices.join(",");
  return { CUDA_VISIBLE_DEVICES: list, AZR_GPUS: list };
}

/** What spawn sends to the chosen node. */
export interface SpawnSpec {
  name: string;
  moduleUrl: string;
  exportName: string;
  args: unknown[];
  resources: Resources;
  maxRestarts: number;
  concurrent: string[];
  checkpoint: CheckpointPolicy;
  /** Discard a state saved by an earlier actor of this name instead of resuming it. */
  freshState: boolean;
  startTimeoutMs?: number;
  /**
   * The node of the Cluster that spawned it (that Cluster's in-process agent). When that node is
   * lost (the run was SIGKILLed, its machine went down), the agent holding the actor stops it, as
   * the Cluster's close() does at a normal end: otherwise it ran on, holding CPU, memory, GPUs
   * and a name the next run needs. Absent: spawned by a Cluster without an agent, kept as before.
   */
  owner?: string;
}

export interface NodeAgentOptions {
  nc: NatsConnection;
  /** How the actor processes connect (the same server as `nc`). */
  connection: ConnectionSpec;
  cluster: string;
  /** Default: `<hostname>-<pid>`. */
  id?: string;
  /**
   * Advertised totals; default: this machine's cores, the GPUs nvidia-smi lists, its memory.
   * A `gpu` count is taken on the operator's word as devices 0…gpu-1 (how tests fake GPUs).
   */
  resources?: Partial<NodeEntry["resources"]>;
  /** Logs go to `<runDir>/logs/<actor>.log`. */
  runDir: string;
  /** Also print actor log lines on this process's stdout/stderr. */
  echoLogs?: boolean;
  heartbeatMs?: number;
  hangMs?: number;
  /**
   * Serve `azr attach --shell <this node>`. Default: AZR_NODE_SHELL (on/off), else on — this
   * option's default is for agents inside the process that starts a run; node-agent-main.ts
   * passes off unless told otherwise (see nodeShellEnabled for why).
   */
  shell?: boolean;
  /** Back-off between crash restarts; default DEFAULT_RESTART_BACKOFF (100 ms doubling to 5 s). */
  restartBackoff?: RestartBackoff;
  /**
   * Collecting the large payloads of calls cut short (payload-sweep.ts): at start, then every
   * 15 min, those over 2 h old. `false`: not by this agent (another process does it).
   */
  payloadOrphans?: Pick<OrphanSweepOptions, "olderThanMs" | "everyMs"> | false;
  /** Silence after which another node's actors are marked lost and its entry removed; default NODE_LOST_MS (tests shorten it). */
  lostNodeMs?: number;
  /** How long a stopped actor has between SIGTERM and SIGKILL; default STOP_GRACE_MS (tests shorten it). */
  stopGraceMs?: number;
}

interface Supervised {
  spec: SpawnSpec;
  /** The node's GPU indices given to this actor (the same for every incarnation). */
  gpuIndices: number[];
  proc?: ActorProcess;
  log: ActorLog;
  incarnation: number;
  restarts: number;
  methods: MethodInfo[];
  /** Set when the agent itself stops the process (kill or requested restart). */
  intent?: "kill" | "restart";
  /** The caller's reason for a kill, recorded as the dead state's reason. */
  killReason?: string;
  /** Cuts a crash restart's back-off short (a restart requested meanwhile). */
  skipBackoff?: () => void;
  /** Resolves when the current process's exit has been handled (state written, restart done). */
  exitHandled?: Promise<void>;
  /** Settles when the incarnation being started is up (or failed to start); unset between starts. */
  starting?: Promise<void>;
  /** The revision of its spec in the spec store (undefined: not stored), for deleting exactly that one. */
  specStored?: Promise<number | undefined>;
}

export class NodeAgent {
  readonly id: string;
  readonly node: NodeEntry;
  readonly #o: NodeAgentOptions;
  readonly #actors = new Map<string, Supervised>();
  #registry!: Registry;
  #states!: StateStore;
  #specs!: SpecStore;
  #client!: ActorClient;
  #host?: ActorHost;
  #shell?: Pick<AttachServer, "stop">;
  #timer?: NodeJS.Timeout;
  #sweep?: OrphanSweep;
  #closed = false;
  /** Re-places (or marks dead) the actors of nodes gone silent; see lost-nodes.ts. */
  #lostNodes!: LostNodeSweeper;
  /** Serialises spawn's check-assign-claim, so two spawns at once cannot get the same GPU. */
  #claiming: Promise<unknown> = Promise.resolve();

  private constructor(o: NodeAgentOptions, gpus: GpuDetection) {
    this.#o = o;
    this.id = checkName("node", o.id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, "_")}-${process.pid}`);
    this.node = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      resources: {
        cpu: o.resources?.cpu ?? availableParallelism(),
        gpu: gpus.gpus.length,
        memoryMB: o.resources?.memoryMB ?? Math.floor(totalmem() / 2 ** 20),
        labels: o.resources?.labels ?? {},
      },
      gpus: gpus.gpus,
      ...(gpus.reason ? { gpuNote: gpus.reason } : gpus.source === "advertised" ? { gpuNote: "advertised (count given to the agent, not detected)" } : {}),
      lastHeartbeat: Date.now(),
    };
  }

  static async start(o: NodeAgentOptions): Promise<NodeAgent> {
    const gpu = o.resources?.gpu;
    const a = new NodeAgent(o, gpu !== undefined ? advertisedGpus(gpu) : await detectGpus());
    [a.#registry, a.#states, a.#specs, a.#client] = await Promise.all([
      Registry.open(o.nc, o.cluster),
      StateStore.open(o.nc, o.cluster),
      SpecStore.open(o.nc, o.cluster),
      ActorClient.start(o.nc, o.cluster),
    ]);
    a.#lostNodes = new LostNodeSweeper({
      id: a.id,
      registry: a.#registry,
      specs: a.#specs,
      lostNodeMs: o.lostNodeMs ?? NODE_LOST_MS,
      event: (e) => a.#event(e),
      adoptHere: (name, incarnation, from) => a.adopt(name, incarnation, from),
      client: a.#client,
      closed: () => a.#closed,
      stopActorsOfGoneRuns: (runGone) => a.#stopActorsOfGoneRuns(runGone),
    });
    const previous = await a.#refuseTakenId().catch((e: Error) => {
      a.#client.close();
      throw e;
    });
    await a.#releaseEarlierActors(previous);
    const service = new NodeService(a);
    a.#host = await ActorHost.start({
      nc: o.nc,
      cluster: o.cluster,
      name: nodeServiceName(a.id),
      instance: service,
      methods: describeMethods(service).map((m) => ({ ...m, concurrent: true })),
      checkpoint: "manual",
      getActor: (name) => lookupActor(a.#registry, a.#client, name),
      payloads: a.#client.payloads,
    });
    // `azr attach --shell <node>`: a terminal on this machine for holders of the cluster's
    // credentials, or, switched off, a refusal saying how to switch it on.
    const shellOpts = { nc: o.nc, cluster: o.cluster, nodeId: a.id };
    a.#shell = nodeShellEnabled(o.shell, process.env, true) ? await serveNodeShell(shellOpts) : await refuseNodeShell(shellOpts);
    await a.#registry.putNode(a.node);
    a.#timer = setInterval(() => void a.#tick(), o.heartbeatMs ?? DEFAULT_NODE_HEARTBEAT_MS);
    // Every run has a node agent for as long as it runs: the owner that outlives the calls whose
    // payloads a kill orphans. Several agents sweeping the one bucket only repeat each other.
    if (o.payloadOrphans !== false) {
      a.#sweep = startOrphanSweep(o.nc, {
        ...o.payloadOrphans,
        onCollected: (r) =>
          console.error(`node agent ${a.id}: removed ${r.objects.length} large payload(s) and ${r.chunkSets} partial upload(s) over ${r.olderThanMs >= 60_000 ? `${Math.round(r.olderThanMs / 60_000)} min` : `${r.olderThanMs / 1000} s`} old from bucket ${r.bucket}: calls cut short left them`),
        onError: (e) => console.error(`node agent ${a.id}: collecting orphaned large payloads failed (retried in the next sweep): ${e.message}`),
      });
    }
    return a;
  }

  /**
   * Two agents under one id would both answer `_node-<id>` (a spawn could start the actor twice,
   * or one agent's reply could be the other's refusal) and overwrite each other's node entry.
   * An entry whose heartbeat is stale is a dead agent's and may be taken over.
   */
  async #refuseTakenId(): Promise<NodeEntry | undefined> {
    const other = (await this.#registry.listNodes()).find((n) => n.id === this.id);
    if (!other) return undefined;
    const age = Date.now() - other.lastHeartbeat;
    if (age >= NODE_STALE_MS) return other;
    // The same machine, its process gone: an agent restarted straight after a crash.
    if (other.host === this.node.host && !processAlive(other.pid)) return other;
    throw new NodeIdTakenError(
      `node id '${this.id}' is taken: the agent with pid ${other.pid} on host ${other.host} sent a heartbeat ${age} ms ago. ` +
        `Give this agent another id (--id), or stop that one first (its entry is free once it has been silent for ${NODE_STALE_MS / 1000} s)`,
    );
  }

  /**
   * A new agent under this node id supervises nothing yet: an entry still naming this node and
   * not dead belongs to an earlier agent of this id that died without stopping its actors (their
   * processes end on their own, see parent-watchdog.ts). Left as they were, `azr actors` would
   * show them alive, their names could not be spawned again and their resources would count
   * as taken on this node.
   */
  async #releaseEarlierActors(previous: NodeEntry | undefined): Promise<void> {
    const who = previous ? `its earlier agent (pid ${previous.pid} on ${previous.host}) stopped without stopping it` : "its node agent stopped without stopping it";
    for (const e of await this.#registry.list()) {
      if (e.node !== this.id || e.state === "dead") continue;
      const spec = await this.#specs.info(e.name).catch(() => undefined);
      await this.#lostNodes.markLost(e, `lost: ${who}; node ${this.id} was taken over by pid ${process.pid}`, spec?.revision);
    }
  }

  /** Stops every actor on this node (they become dead), then leaves the cluster. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#sweep?.stop();
    await this.#host?.stop();
    this.#shell?.stop(`node ${this.id} shut down`);
    await Promise.all([...this.#actors.keys()].map((n) => this.kill(n, `node ${this.id} shut down`).catch(() => undefined)));
    await this.#registry.removeNode(this.id).catch(() => undefined);
    this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #event(e: ActorEvent): void {
    publishEvent(this.#o.nc, this.#o.cluster, e);
  }

  async #tick(): Promise<void> {
    const now = Date.now();
    this.node.lastHeartbeat = now;
    try {
      await this.#registry.putNode(this.node);
      for (const [name, s] of this.#actors) {
        if (!s.proc) continue;
        if (now - s.proc.lastHeartbeat > (this.#o.hangMs ?? DEFAULT_HANG_MS)) {
          this.#log(s, `no heartbeat for ${now - s.proc.lastHeartbeat} ms: killing the process so it can be restarted`);
          s.proc.killGroup();
          continue;
        }
        const hb = s.proc.lastHeartbeat;
        const e = await this.#registry.transition(name, (e) => (e.state === "alive" && e.node === this.id && e.incarnation === s.incarnation ? { ...e, lastHeartbeat: hb } : undefined));
        // This node was silent long enough (cut off from NATS) for another agent to declare the
        // actor lost, and its name may have been spawned again elsewhere: two processes must not
        // serve one name, so this one stops (its exit writes nothing over the newer entry).
        if (e && e.state === "dead" && e.reason?.startsWith("lost:") && e.incarnation === s.incarnation && s.intent === undefined) {
          void this.kill(name, `stopped: declared ${e.reason}`).catch(() => undefined);
        } else if (e && e.node !== this.id && s.intent === undefined) {
          // Or it was re-placed on another node meanwhile (or spawned there again): the entry
          // names that incarnation, so this one stops, and its exit writes nothing over the entry.
          void this.kill(name, `stopped: node ${this.id} was cut off and the actor now runs on node ${e.node} (${e.reason ?? e.state})`).catch(() => undefined);
        }
      }
      await this.#lostNodes.sweepIfDue(now);
    } catch (e) {
      if (!this.#closed) console.error(`node agent ${this.id}: heartbeat failed: ${(e as Error).message}`);
    }
  }

  /**
   * Actors here whose spawning run is gone (its node lost, or its entry already removed by an
   * earlier sweep) share its fate, as Ray's non-detached actors share their driver's. Called by
   * the lost-node sweep; the kills are not awaited.
   */
  #stopActorsOfGoneRuns(runGone: (owner: string) => boolean): void {
    for (const [name, s] of this.#actors) {
      const owner = s.spec.owner;
      if (!owner || owner === this.id || s.intent !== undefined || !runGone(owner)) continue;
      void this.kill(name, `stopped: the run that spawned it is gone (its node ${owner} is lost)`).catch(() => undefined);
    }
  }

  #log(s: Supervised, line: string): void {
    s.log.write("stderr", `azr: ${line}`);
  }

  /** Starts an actor here (the caller chose this node; the fit is checked again). */
  async spawn(spec: SpawnSpec): Promise<ActorEntry> {
    checkName("actor", spec.name);
    const gpuIndices = await this.#serially(() => this.#claim(spec));
    if (spec.freshState) await this.#states.delete(spec.name);
    const s = this.#supervised(spec, gpuIndices, 1, 0);
    // Stored while the process starts (not after: the node may be lost at any time), for any
    // agent to start it elsewhere if this node is lost.
    s.specStored = this.#storeSpec(s);
    return this.#startHere(s, {
      failed: async (reason) => {
        const e = await this.#registry.transition(spec.name, (x) => ({ ...x, state: "dead", reason }));
        this.#forgetSpec(s, e);
      },
      started: (pid) => this.#event({ type: "started", actor: spec.name, node: this.id, incarnation: 1, pid, at: Date.now() }),
    });
  }

  /**
   * Starts an actor that another agent's sweep re-placed here from its lost node `from`: that
   * agent has claimed the registry entry for this node (state restarting, `incarnation`). Its spec
   * comes from the spec store, its GPU indices from this node; the process loads the actor's saved
   * state as after any restart (freshState applies at spawn only, as for a restart on its own
   * node). A start that fails writes it dead, saying why.
   */
  async adopt(name: string, incarnation: number, from: string): Promise<ActorEntry> {
    const claim = (x: ActorEntry) => x.node === this.id && x.incarnation === incarnation && x.state === "restarting";
    let stored: StoredSpec | undefined;
    const failed = async (why: string) => {
      const e = await this.#registry.get(name);
      const reason = `${e?.reason ?? `re-placing it from lost node ${from}`}: failed: ${why}`;
      if ((await this.#lostNodes.endClaim(name, this.id, incarnation, reason)) && stored) await this.#specs.delete(name, stored.revision).catch(() => undefined);
    };
    let s: Supervised;
    try {
      if (this.#actors.has(name)) throw new ActorStartError(`node ${this.id} already supervises a process of actor '${name}'`);
      stored = await this.#specs.get(name);
      if (!stored) throw new ActorStartError(`no spawn spec is stored for actor '${name}'`);
      const e = await this.#serially(() => this.#claimReplaced(name, stored!.spec.resources, claim));
      s = this.#supervised(stored.spec, e.gpuIndices ?? [], incarnation, e.restarts);
      s.specStored = Promise.resolve(stored.revision);
    } catch (err) {
      await failed((err as Error).message);
      throw err;
    }
    return this.#startHere(s, {
      failed,
      started: (pid) => {
        this.#log(s, `restarted as process ${pid}, re-placed on node ${this.id} from lost node ${from} (restart ${s.restarts} of ${s.spec.maxRestarts})`);
        this.#event({ type: "restarted", actor: name, node: this.id, incarnation, pid, restarts: s.restarts, at: Date.now() });
      },
    });
  }

  /** Runs `claim` after the claims before it: two at once could otherwise be given the same GPU. */
  #serially<T>(claim: () => Promise<T>): Promise<T> {
    const done = this.#claiming.then(claim);
    this.#claiming = done.catch(() => undefined);
    return done;
  }

  #supervised(spec: SpawnSpec, gpuIndices: number[], incarnation: number, restarts: number): Supervised {
    const log = new ActorLog(this.#o.nc, this.#o.cluster, spec.name, this.#o.runDir, this.#o.echoLogs ?? false);
    return { spec, gpuIndices, log, incarnation, restarts, methods: [] };
  }

  /**
   * Runs the first process of `s` on this node (a spawn, or an actor re-placed here) and writes it
   * alive. A start that fails ends the actor (`failed` writes why, and the log is closed) and
   * rethrows; `started` announces a process that is up.
   */
  async #startHere(s: Supervised, on: { failed: (reason: string) => Promise<void>; started: (pid: number) => void }): Promise<ActorEntry> {
    const name = s.spec.name;
    this.#actors.set(name, s);
    let proc: ActorProcess;
    try {
      proc = await this.#startProcess(s);
    } catch (e) {
      if (this.#actors.get(name) !== s) throw new ActorStartError(`actor '${name}' was killed while it was starting`);
      this.#actors.delete(name);
      await on.failed((e as Error).message);
      await s.log.close();
      throw e;
    }
    // A kill that came during start-up has written the dead state and stops this process: an
    // "alive" written now would name a process that is about to go, and nobody would correct it.
    if (s.intent === "kill") throw new ActorStartError(`actor '${name}' was killed while it was starting`);
    const handled = s.exitHandled;
    const alive = await this.#markAlive(s, proc);
    if (!alive) return this.#exitedAfterReady(s, proc, handled);
    on.started(proc.pid);
    return alive;
  }

  /**
   * Writes `s.spec` to the spec store. A failure is logged, not thrown: the actor runs all the
   * same, and if its node is lost it is marked dead as no spec is stored (the reason says so).
   */
  async #storeSpec(s: Supervised): Promise<number | undefined> {
    try {
      return await this.#specs.put(s.spec);
    } catch (e) {
      this.#log(s, `storing its spawn spec failed (${(e as Error).message}): it cannot be re-placed if node ${this.id} is lost`);
      return undefined;
    }
  }

  /**
   * After `s` ended for good (`written`: the registry write of its dead state), its stored spec
   * goes — unless the entry is another node's now (it was re-placed while this node was cut
   * off): that incarnation still needs it.
   */
  #forgetSpec(s: Supervised, written: ActorEntry | undefined): void {
    if (written?.state !== "dead" || written.node !== this.id) return;
    void s.specStored
      ?.then((revision) => (revision === undefined ? false : this.#specs.delete(s.spec.name, revision)))
      .catch(() => undefined);
  }

  /**
   * Spawn's answer when the first process exited between reporting ready and being marked alive:
   * #onExit owns the entry from there. Once it is done: still supervised (restarted, or in
   * back-off), the current entry; else (no restarts left) the exit, as a start failure.
   */
  async #exitedAfterReady(s: Supervised, proc: ActorProcess, handled: Promise<void> | undefined): Promise<ActorEntry> {
    await handled;
    const e = await this.#registry.get(s.spec.name);
    if (e && e.state !== "dead" && this.#actors.get(s.spec.name) === s) return e;
    if (s.intent === "kill") throw new ActorStartError(`actor '${s.spec.name}' was killed while it was starting`);
    throw new ActorStartError(`actor '${s.spec.name}' (process ${proc.pid}) exited right after it started: ${e?.reason ?? "see its log"}; see its log ${s.log.file}`);
  }

  /** Re-checks the fit, picks the GPU indices and claims the name with them (state starting). */
  async #claim(spec: SpawnSpec): Promise<number[]> {
    const gpuIndices = this.#fitHere(spec.name, spec.resources, await this.#registry.list());
    const now = Date.now();
    const entry: ActorEntry = {
      name: spec.name,
      node: this.id,
      pid: 0,
      state: "starting",
      restarts: 0,
      maxRestarts: spec.maxRestarts,
      incarnation: 1,
      startedAt: now,
      lastHeartbeat: now,
      methods: [],
      resources: spec.resources,
      gpuIndices,
    };
    await this.#registry.claim(entry);
    return gpuIndices;
  }

  /**
   * For an actor re-placed here: re-checks the fit (its own claimed entry aside: it already counts
   * on this node) and records the GPU indices picked on the entry, while it is still the claim.
   */
  async #claimReplaced(name: string, resources: Resources, claim: (x: ActorEntry) => boolean): Promise<ActorEntry> {
    const others = (await this.#registry.list()).filter((a) => a.name !== name);
    const gpuIndices = this.#fitHere(name, resources, others);
    let won = false;
    const e = await this.#registry.transition(name, (x) => ((won = claim(x)) ? { ...x, gpuIndices } : undefined));
    if (!won || !e) throw new ActorStartError(`its registry entry is no longer claimed for node ${this.id} (now ${e ? `${e.state} on node ${e.node}` : "gone"})`);
    return e;
  }

  /** The GPU indices a request gets on this node given `actors`; PlacementError when it does not fit. */
  #fitHere(name: string, resources: Resources, actors: ActorEntry[]): number[] {
    const share = resources.gpuShare;
    const free = freeResources(this.node, actors, share);
    if (!fits(resources, free)) throw new PlacementError(name, resources, { [this.id]: free }, `node '${this.id}' no longer has enough free`);
    return assignGpus(name, resources, this.id, free, groupGpuIndices(this.node, actors, share), spreadGpuIndices(this.node, actors, resources));
  }

  /** Starts the next incarnation; `s.starting` tells a concurrent kill() there is a process on its way. */
  async #startProcess(s: Supervised): Promise<ActorProcess> {
    const started = this.#launch(s);
    s.starting = started.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await started;
    } finally {
      s.starting = undefined;
    }
  }

  async #launch(s: Supervised): Promise<ActorProcess> {
    const { proc, methods } = await ActorProcess.start(
      {
        cluster: this.#o.cluster,
        name: s.spec.name,
        moduleUrl: s.spec.moduleUrl,
        exportName: s.spec.exportName,
        args: s.spec.args,
        concurrent: s.spec.concurrent,
        checkpoint: s.spec.checkpoint,
        connection: this.#o.connection,
        incarnation: s.incarnation,
      },
      s.log,
      s.spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      gpuEnv(s.gpuIndices),
    );
    s.proc = proc;
    s.methods = methods;
    s.exitHandled = proc.exited
      .then(({ code, signal }) => this.#onExit(s, proc, signal ? `killed by ${signal}` : `exited with code ${code}`))
      .catch((e: Error) => {
        // The registry or the server is unreachable: the actor's state there is stale until we can write again.
        console.error(`node agent ${this.id}: handling the exit of actor '${s.spec.name}' failed: ${e.message}`);
      });
    return proc;
  }

  /**
   * Writes "alive" for `proc`, the incarnation just started, only while it is still the actor's
   * process and the entry is still this node's: a process that exited right after reporting
   * ready has had #onExit write its end (dead, or restarting), which an "alive" would overwrite
   * with a process that no longer exists. Undefined when it wrote nothing for that reason.
   */
  async #markAlive(s: Supervised, proc: ActorProcess): Promise<ActorEntry | undefined> {
    const now = Date.now();
    const current = () => s.proc === proc && !proc.hasExited && this.#actors.get(s.spec.name) === s;
    if (!current()) return undefined;
    let stale = false;
    const e = await this.#untilWritten(s.spec.name, () =>
      this.#registry.transition(s.spec.name, (x) => {
        stale = false;
        if (!current() || x.node !== this.id) {
          stale = true;
          return undefined;
        }
        return { ...x, state: "alive", pid: proc.pid, incarnation: s.incarnation, restarts: s.restarts, methods: s.methods, startedAt: now, lastHeartbeat: now };
      }),
    );
    if (!e) throw new ActorNotFoundError(s.spec.name, this.#o.cluster);
    return stale ? undefined : e;
  }

  /**
   * A registry write about this node's actor `name`: skipped when the entry has since been
   * claimed by another node. Retried while the server cannot be reached (a NATS restart): an
   * exit handler that gave up would leave the entry "alive" with a dead pid and, worse, never
   * restart the actor. Gives up only when the agent closes.
   */
  #transitionOwn(name: string, fn: (e: ActorEntry) => ActorEntry | undefined): Promise<ActorEntry | undefined> {
    return this.#untilWritten(name, () => this.#registry.transition(name, (x) => (x.node === this.id ? fn(x) : undefined)));
  }

  async #untilWritten<T>(name: string, write: () => Promise<T>): Promise<T> {
    for (let said = false; ; ) {
      try {
        return await write();
      } catch (e) {
        if (this.#closed || e instanceof RegistryConflictError) throw e;
        if (!said) console.error(`node agent ${this.id}: writing actor '${name}' to the registry failed (${(e as Error).message}): retrying every ${REGISTRY_RETRY_MS / 1000} s until the server answers`);
        said = true;
        await sleep(REGISTRY_RETRY_MS);
      }
    }
  }

  async #onExit(s: Supervised, proc: ActorProcess, how: string): Promise<void> {
    if (s.proc !== proc) return; // an older incarnation
    s.proc = undefined;
    const name = s.spec.name;
    const base = { actor: name, node: this.id, incarnation: s.incarnation };
    if (s.intent === "kill") {
      // The caller's reason is what a reader wants; how the process ended tells whether it stopped cleanly.
      const reason = `${s.killReason ?? "killed"} (process ${how})`;
      const written = await this.#transitionOwn(name, (x) => (x.state === "dead" && x.reason?.startsWith("lost:") ? undefined : { ...x, state: "dead", reason }));
      // Another node holds the actor now (re-placed while this one was cut off): a "killed"
      // event would fail its callers' calls to the incarnation that lives on.
      if (written && written.node !== this.id) return this.#log(s, `${reason}; the actor lives on as incarnation ${written.incarnation} on node ${written.node}`);
      this.#event({ ...base, type: "killed", reason, at: Date.now() });
      this.#forgetSpec(s, written);
      return;
    }
    const requested = s.intent === "restart";
    s.intent = undefined;
    // A crash's reason names the actor's last error line: the exit code alone says nothing of why.
    const lastError = requested ? undefined : proc.lastError;
    let reason = requested ? "restart requested" : lastError ? `${how}; last error: ${lastError}` : how;
    /** A start that would fail the same way every time (its saved state is unreadable). */
    let hopeless = false;
    this.#log(s, `process ${proc.pid} ${how}`);
    for (;;) {
      // Killed while the last try was starting (and failed): kill() has written the dead state.
      if (this.#actors.get(name) !== s) return;
      const willRestart = !this.#closed && !hopeless && (requested || s.restarts < s.spec.maxRestarts);
      this.#event({ ...base, incarnation: s.incarnation, type: "died", reason, willRestart, at: Date.now() });
      if (!willRestart) {
        this.#actors.delete(name);
        const final = s.restarts > 0 && !requested ? `${reason} (after ${s.restarts} restart(s), maxRestarts ${s.spec.maxRestarts})` : reason;
        this.#forgetSpec(s, await this.#transitionOwn(name, (x) => ({ ...x, state: "dead", reason: final })));
        this.#event({ ...base, incarnation: s.incarnation, type: "dead", reason: final, restarts: s.restarts, at: Date.now() });
        await s.log.close();
        return;
      }
      await this.#transitionOwn(name, (x) => ({ ...x, state: "restarting", reason }));
      if (!requested) await this.#backoff(s);
      // Killed (or the agent closed) during the back-off: kill() has written the dead state.
      if (this.#actors.get(name) !== s || this.#closed) return;
      if (!requested) s.restarts++;
      s.incarnation++;
      try {
        const next = await this.#startProcess(s);
        // Killed while this incarnation was starting: kill() stops it and writes the dead state.
        if (this.#actors.get(name) !== s) return;
        // Exited right after starting: its own #onExit has taken over (restart or dead).
        if (!(await this.#markAlive(s, next))) return;
        this.#log(s, `restarted as process ${next.pid} (restart ${s.restarts} of ${s.spec.maxRestarts})`);
        this.#event({ ...base, incarnation: s.incarnation, type: "restarted", pid: next.pid, restarts: s.restarts, at: Date.now() });
        return;
      } catch (e) {
        reason = (e as Error).message; // a failed restart counts as another crash
        hopeless = e instanceof ActorStartError && e.childError === "StateCorruptError";
        if (hopeless) this.#log(s, `not restarting: ${reason}`);
      }
    }
  }

  /** The crash restart back-off; a restart requested meanwhile (see restart) ends it early. */
  async #backoff(s: Supervised): Promise<void> {
    const ac = new AbortController();
    s.skipBackoff = () => ac.abort();
    await sleep(restartBackoffMs(s.restarts, this.#o.restartBackoff), undefined, { signal: ac.signal }).catch(() => undefined);
    s.skipBackoff = undefined;
  }

  /** Stops the actor's process for good; its saved state is kept (a later spawn resumes it unless freshState). */
  async kill(name: string, reason = "killed on request"): Promise<void> {
    const s = this.#actors.get(name);
    if (!s) throw await this.#notHere(name);
    s.intent = "kill";
    s.killReason = reason;
    this.#actors.delete(name);
    s.skipBackoff?.();
    // An incarnation on its way up (spawn, or a restart after a crash) is let finish starting,
    // then stopped like any other: stopping it half-started would leave nothing to wait on.
    await s.starting;
    const proc = s.proc;
    if (proc) {
      this.#log(s, reason);
      await this.#stop(s, proc);
      await s.exitHandled; // #onExit writes the dead state and the event
    } else {
      this.#forgetSpec(s, await this.#transitionOwn(name, (x) => ({ ...x, state: "dead", reason })));
    }
    await s.log.close();
  }

  /** The error for a name this agent does not supervise: dead (with why) if the registry says so, else not found. */
  async #notHere(name: string): Promise<Error> {
    const e = await this.#registry.get(name).catch(() => undefined);
    if (e?.state === "dead") return new ActorDiedError(name, `it is dead (${e.reason ?? "no reason recorded"}); spawn it again to start a new process (its saved state is loaded unless freshState)`);
    return new ActorNotFoundError(name, this.#o.cluster);
  }

  /** Stops `proc` (SIGTERM, then SIGKILL after the grace) and notes an escalation in the actor's log. */
  async #stop(s: Supervised, proc: ActorProcess): Promise<void> {
    const graceMs = this.#o.stopGraceMs ?? STOP_GRACE_MS;
    if ((await proc.stop("SIGTERM", graceMs)) === "sigkill") {
      this.#log(s, `process ${proc.pid} did not exit within ${graceMs} ms of SIGTERM (busy or ignoring it): killed with SIGKILL`);
    }
  }

  /**
   * Stops the actor's process and starts a new incarnation (not counted against maxRestarts).
   * An actor between processes is not refused: one starting is restarted once it is up, and
   * one in its crash back-off is started now — what the caller wants either way is a fresh
   * process soon. A dead one is refused (ActorDiedError): this agent no longer holds it.
   */
  async restart(name: string): Promise<ActorEntry> {
    const s = this.#actors.get(name);
    if (!s) throw await this.#notHere(name);
    if (s.skipBackoff) {
      // In back-off after a crash: the loop in #onExit starts the next incarnation now.
      const handled = s.exitHandled;
      s.skipBackoff();
      await handled;
      return this.#current(name);
    }
    await s.starting;
    if (this.#actors.get(name) !== s) throw await this.#notHere(name);
    const proc = s.proc;
    // Between a crash and its back-off (a registry write): that restart is already under way.
    if (!proc) return s.exitHandled ? (await s.exitHandled, this.#current(name)) : this.#current(name);
    s.intent = "restart";
    const handled = s.exitHandled;
    await this.#stop(s, proc);
    await handled; // #onExit starts the new incarnation
    return this.#current(name);
  }

  async #current(name: string): Promise<ActorEntry> {
    const e = await this.#registry.get(name);
    if (!e) throw new ActorNotFoundError(name, this.#o.cluster);
    return e;
  }

  /** For tests and `azr top`: the pids of this node's actor processes. */
  pids(): Record<string, number> {
    return Object.fromEntries([...this.#actors].map(([n, s]) => [n, s.proc?.pid ?? 0]));
  }
}

/** The node agent's remote interface (served as actor `_node-<id>`). */
class NodeService {
  constructor(private readonly agent: NodeAgent) {}
  async spawnActor(spec: SpawnSpec): Promise<ActorEntry> {
    return this.agent.spawn(spec);
  }
  async killActor(name: string, reason?: string): Promise<void> {
    await this.agent.kill(name, reason);
  }
  async restartActor(name: string): Promise<ActorEntry> {
    return this.agent.restart(name);
  }
  /** Another agent's sweep moved this actor here from its lost node `from` (see NodeAgent.adopt). */
  async adoptActor(name: string, incarnation: number, from: string): Promise<ActorEntry> {
    return this.agent.adopt(name, incarnation, from);
  }
  async info(): Promise<NodeEntry> {
    return this.agent.node;
  }
  async pids(): Promise<Record<string, number>> {
    return this.agent.pids();
  }
}

export type NodeServiceApi = NodeService;
