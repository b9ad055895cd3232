/**
 * Lost nodes, as any live node agent handles them: a node whose agent has been silent for
 * lostNodeMs (SIGKILLed, its machine gone) has its actors re-placed on a live node with room
 * when they may be (a restart left, their spawning run alive, their spawn spec stored: one
 * restart, started by the target agent from the stored spec with the saved state, as Ray
 * restarts a dead node's actors elsewhere) and the others marked dead saying why; the node's
 * entry is then removed. Several agents sweeping at once do not repeat each other's work: each
 * write is a CAS on the entry as it was read.
 * Covers: the sweep and its cadence, the re-placement decision and claim, asking the target
 * agent to start the actor, and the two registry writes that end an actor here (markLost,
 * endClaim), which the agent also uses (an earlier agent's actors at start; a failed adopt).
 * Not: starting a re-placed actor on the target node (NodeAgent.adopt); stopping this node's
 * actors whose run is gone, or its copies of actors re-placed while it was cut off (the agent,
 * which holds them); choosing a node (placement.ts); storing specs (spec-store.ts).
 */
import type { ActorClient } from "./client.ts";
import { PlacementError } from "./errors.ts";
import type { ActorEvent } from "./events.ts";
import { nodeServiceName } from "./names.ts";
import { place, type Free } from "./placement.ts";
import { isLocalNode, type ActorEntry, type NodeEntry, type Registry, type Resources } from "./registry.ts";
import type { SpecInfo, SpecStore } from "./spec-store.ts";

/** What the sweeper needs of the node agent that runs it. */
export interface LostNodeSweeperDeps {
  /** The agent's node id: never swept by itself, and named in reasons and log lines. */
  id: string;
  registry: Registry;
  specs: SpecStore;
  /** Silence after which a node is lost (NodeAgentOptions.lostNodeMs, default NODE_LOST_MS). */
  lostNodeMs: number;
  /** Publishes a lifecycle event (the agent's publishEvent on its cluster). */
  event: (e: ActorEvent) => void;
  /** Starts an actor re-placed on the agent's own node (NodeAgent.adopt). */
  adoptHere: (name: string, incarnation: number, from: string) => Promise<unknown>;
  /** Calls another node's agent (`adoptActor` on `_node-<id>`). */
  client: Pick<ActorClient, "call">;
  /** Whether the agent has closed: a re-placed start that failed is then not written. */
  closed: () => boolean;
  /** Stops the agent's actors whose spawning run is gone (`runGone(owner)`); not awaited. */
  stopActorsOfGoneRuns: (runGone: (owner: string) => boolean) => void;
}

/** What a sweep knows of the cluster, for deciding where (and whether) a lost node's actor goes. */
interface SweepView {
  /** Nodes not lost: where an actor may be re-placed. */
  live: NodeEntry[];
  /** Every registry entry, updated as this sweep re-places actors (so two are not put in one slot). */
  actors: ActorEntry[];
  /** Whether the run of the Cluster with this agent id is gone (its node lost or unregistered). */
  runGone: (owner: string) => boolean;
}

/** A request as a reason says it: `cpu 4, gpu 1` (nothing asked: `no resources`). */
function describeResources(r: Resources): string {
  const parts = Object.entries(r).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.length ? parts.join(", ") : "no resources";
}

/** What each node has free, as a reason says it: `n1 cpu 2, gpu 0, memoryMB 512`. */
function describeFree(free: Record<string, Free>): string {
  const nodes = Object.entries(free).map(([id, f]) => `${id} cpu ${f.cpu}, gpu ${f.gpu}, memoryMB ${f.memoryMB}${Object.keys(f.labels).length ? `, labels ${JSON.stringify(f.labels)}` : ""}`);
  return nodes.length ? nodes.join("; ") : "no live node";
}

export class LostNodeSweeper {
  readonly #d: LostNodeSweeperDeps;
  /** When this agent last looked for nodes gone silent (see sweepIfDue). */
  #lastSweep = 0;

  constructor(deps: LostNodeSweeperDeps) {
    this.#d = deps;
  }

  /** Sweeps (see #sweep) when a third of lostNodeMs has passed since the last sweep; called on each heartbeat. */
  async sweepIfDue(now: number): Promise<void> {
    if (now - this.#lastSweep < this.#d.lostNodeMs / 3) return;
    this.#lastSweep = now;
    await this.#sweep(now);
  }

  /**
   * Marks `e` dead as lost — only while it is still on its node and not dead (a CAS: a restart
   * elsewhere or another agent's sweep may have written first) — and publishes the death when
   * this write made it, so watchers (`azr logs -f`, the driver) learn of it as of any other.
   * Its stored spec (read at `specRevision` before the write) goes: nothing will start it again.
   */
  async markLost(e: ActorEntry, reason: string, specRevision?: number): Promise<void> {
    const next = await this.#d.registry.transition(e.name, (x) => (x.node === e.node && x.state !== "dead" ? { ...x, state: "dead", reason } : undefined));
    if (next?.state === "dead" && next.reason === reason) {
      this.#d.event({ type: "dead", actor: e.name, node: e.node, incarnation: e.incarnation, reason, restarts: e.restarts, at: Date.now() });
      if (specRevision !== undefined) await this.#d.specs.delete(e.name, specRevision).catch(() => undefined);
    }
  }

  /**
   * Writes dead (`reason`) over the claim of `incarnation` on `node` while the entry is still that
   * claim (state restarting), and publishes it; true when this write made it.
   */
  async endClaim(name: string, node: string, incarnation: number, reason: string): Promise<boolean> {
    let won = false;
    const e = await this.#d.registry.transition(name, (x) => {
      won = x.node === node && x.incarnation === incarnation && x.state === "restarting";
      return won ? { ...x, state: "dead", reason } : undefined;
    });
    if (!won || !e) return false;
    this.#d.event({ type: "dead", actor: name, node, incarnation, reason, restarts: e.restarts, at: Date.now() });
    return true;
  }

  /**
   * Nodes whose agent has been silent for lostNodeMs: their actors not yet dead are re-placed on
   * a live node or marked dead ("lost …", see #recoverLost), and the node's entry is removed, so
   * `azr actors` / `azr nodes`, placement and name claims see what is true. Any live agent does
   * this; several doing it at once do not repeat each other's work, as each write is a CAS on the
   * entry as it was read (still on the lost node, same incarnation). An agent that was only cut
   * off stops its actors when it is back (NodeAgent's heartbeat, #tick).
   */
  async #sweep(now: number): Promise<void> {
    const { id, registry, lostNodeMs: lostMs } = this.#d;
    const nodes = await registry.listNodes();
    const lost = nodes.filter((n) => n.id !== id && now - n.lastHeartbeat >= lostMs);
    const known = new Set(nodes.map((n) => n.id));
    const view: SweepView = {
      live: nodes.filter((n) => !lost.includes(n)),
      actors: await registry.list(),
      runGone: (owner) => lost.some((x) => x.id === owner) || !known.has(owner),
    };
    for (const e of [...view.actors]) {
      if (e.state === "dead" || e.node === id || isLocalNode(e.node)) continue;
      const n = lost.find((x) => x.id === e.node);
      // An entry whose node has no entry at all (removed by an earlier sweep that stopped half way).
      const orphan = !known.has(e.node) && now - e.lastHeartbeat >= lostMs;
      if (!n && !orphan) continue;
      const why = n
        ? `its node ${n.id} (agent pid ${n.pid} on ${n.host}) sent no heartbeat for ${Math.round((now - n.lastHeartbeat) / 1000)} s`
        : `its node ${e.node} is no longer registered`;
      await this.#recoverLost(e, why, view);
    }
    // The agent's own actors whose spawning run is gone share its fate (the agent stops them).
    this.#d.stopActorsOfGoneRuns(view.runGone);
    for (const n of lost) {
      console.error(`node agent ${id}: node ${n.id} (pid ${n.pid} on ${n.host}) sent no heartbeat for ${Math.round((now - n.lastHeartbeat) / 1000)} s: its actors are re-placed or marked lost and its entry removed`);
      await registry.removeNode(n.id);
    }
  }

  /**
   * An actor whose node is lost (`why`): re-placed on a live node when it may be (see
   * #replacement), else marked dead with the reason it was lost and why it was not re-placed.
   */
  async #recoverLost(e: ActorEntry, why: string, view: SweepView): Promise<void> {
    const spec = await this.#d.specs.info(e.name).catch(() => undefined);
    const plan = this.#replacement(e, spec, view);
    if ("refusal" in plan) return this.markLost(e, `lost: ${why}${plan.refusal}; marked dead by node ${this.#d.id}`, spec?.revision);
    await this.#replace(e, why, plan.node, plan.specRevision, view);
  }

  /**
   * Where a lost node's actor is to be restarted, or why it is not: as a restart after a crash,
   * it needs a restart left (maxRestarts); as for an actor whose run was lost, one whose run is
   * gone is not kept; and it needs its stored spec (what to start) and a live node with room
   * (placement as at spawn, the lost node excluded; a pinned node is not kept, as that node is gone).
   */
  #replacement(e: ActorEntry, spec: SpecInfo | undefined, view: SweepView): { node: string; specRevision: number } | { refusal: string } {
    if (e.restarts >= e.maxRestarts) return { refusal: e.maxRestarts > 0 ? ` (its ${e.maxRestarts} restart(s) are used up)` : "" };
    if (!spec) return { refusal: ", and no spawn spec is stored to start it elsewhere" };
    if (spec.owner !== undefined && view.runGone(spec.owner)) return { refusal: `, and the run that spawned it is gone too (its node ${spec.owner} is lost)` };
    try {
      return { node: place(e.name, e.resources, view.live, view.actors), specRevision: spec.revision };
    } catch (err) {
      if (!(err instanceof PlacementError)) throw err;
      return { refusal: `, and no live node has room for it (it needs ${describeResources(e.resources)}; free: ${describeFree(err.free as Record<string, Free>)})` };
    }
  }

  /**
   * Moves `e` to `target`: claims it there (state restarting, one more restart and incarnation,
   * no GPU indices until the target picks them) by a CAS on the entry as this sweep read it, so
   * of several agents sweeping at once exactly one moves it; tells watchers (a "died" event with
   * willRestart, as before a restart on its own node); then has the target's agent start it.
   */
  async #replace(e: ActorEntry, why: string, target: string, specRevision: number, view: SweepView): Promise<void> {
    const restarts = e.restarts + 1;
    const incarnation = e.incarnation + 1;
    const reason = `re-placing: ${why}; restarting it on node ${target} (restart ${restarts} of ${e.maxRestarts}; decided by node ${this.#d.id})`;
    let won = false;
    const claimed = await this.#d.registry.transition(e.name, (x) => {
      won = x.node === e.node && x.incarnation === e.incarnation && x.state !== "dead";
      // Its old node's GPU indices mean nothing on the target, whose agent picks new ones.
      return won ? { ...x, node: target, state: "restarting", pid: 0, gpuIndices: undefined, restarts, incarnation, reason, lastHeartbeat: Date.now() } : undefined;
    });
    if (!won || !claimed) return; // another agent got there first
    view.actors.splice(view.actors.indexOf(e), 1, claimed); // the next placement in this sweep counts it on its new node
    console.error(`node agent ${this.#d.id}: actor '${e.name}' ${reason}`);
    this.#d.event({ type: "died", actor: e.name, node: e.node, incarnation: e.incarnation, reason, willRestart: true, at: Date.now() });
    // Not awaited: starting a process takes seconds, and the sweep (and the heartbeat) go on meanwhile.
    void this.#startReplaced(e.name, e.node, target, incarnation, reason, specRevision);
  }

  /**
   * Asks `target`'s agent to start the claimed incarnation. A failure it reports, it has written
   * (dead, why); one it cannot report (its agent is gone too, or never answered) is written here,
   * only while the entry is still that claim.
   */
  async #startReplaced(name: string, from: string, target: string, incarnation: number, reason: string, specRevision: number): Promise<void> {
    try {
      if (target === this.#d.id) await this.#d.adoptHere(name, incarnation, from);
      else await this.#d.client.call(nodeServiceName(target), "adoptActor", [name, incarnation, from]);
    } catch (err) {
      if (this.#d.closed()) return;
      const final = `${reason}: failed: ${(err as Error).message}`;
      const dead = await this.endClaim(name, target, incarnation, final).catch(() => false);
      if (dead) await this.#d.specs.delete(name, specRevision).catch(() => undefined);
    }
  }
}
