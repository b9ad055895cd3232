/**
 * Placement: which node an actor goes to, and which of that node's GPUs it gets. Pure functions
 * over the nodes' advertised resources and the actors already placed on them. Covers:
 * cpu/gpu/memory fit, label match, a pinned node, stale nodes skipped, least-loaded choice; GPU
 * indices (lowest free first; held by live actors, freed by dead ones; a `gpuShare` group's
 * members may be given the same indices, and a device held only by the group counts once); the
 * error names the request and what each node has free. Not: reserving (the chosen node's agent
 * re-checks and assigns the indices when it starts the process).
 */
import { PlacementError } from "./errors.ts";
import type { ActorEntry, NodeEntry, Resources } from "./registry.ts";

/** A node whose heartbeat is older than this is treated as gone. */
export const NODE_STALE_MS = 10_000;

export interface Free {
  cpu: number;
  /** Whole GPUs the request could be given. */
  gpu: number;
  memoryMB: number;
  labels: Record<string, string>;
  /** Which GPU indices those are (lowest first). */
  gpuIndices: number[];
}

/** Whole devices a request takes: a fraction takes a whole one (sharing is `gpuShare`'s job). */
export function gpusWanted(req: Resources): number {
  return Math.ceil(req.gpu ?? 0);
}

/** The node's device indices: its detected list, else 0…gpu-1 (an agent from before detection). */
export function nodeGpuIndices(node: NodeEntry): number[] {
  return node.gpus ? node.gpus.map((g) => g.index) : Array.from({ length: Math.floor(node.resources.gpu) }, (_, i) => i);
}

/** Actors that hold resources on `node`: every state but dead. */
function holders(node: NodeEntry, actors: ActorEntry[]): ActorEntry[] {
  return actors.filter((a) => a.node === node.id && a.state !== "dead");
}

const sameGroup = (a: ActorEntry, share: string | undefined) => share !== undefined && a.resources.gpuShare === share;

/**
 * What is free on `node` for a request in share group `share` (none: nothing shared). GPUs held
 * by the group are free to it; an actor with a gpu count but no recorded indices (an older agent)
 * takes that many from the count.
 */
export function freeResources(node: NodeEntry, actors: ActorEntry[], share?: string): Free {
  let cpu = node.resources.cpu;
  let memoryMB = node.resources.memoryMB;
  const busy = new Set<number>();
  let unassigned = 0;
  for (const a of holders(node, actors)) {
    cpu -= a.resources.cpu ?? 0;
    memoryMB -= a.resources.memoryMB ?? 0;
    if (sameGroup(a, share)) continue;
    if (a.gpuIndices) for (const i of a.gpuIndices) busy.add(i);
    else unassigned += gpusWanted(a.resources);
  }
  const gpuIndices = nodeGpuIndices(node).filter((i) => !busy.has(i));
  return { cpu, gpu: Math.max(0, gpuIndices.length - unassigned), memoryMB, labels: node.resources.labels, gpuIndices };
}

export function fits(req: Resources, f: Free): boolean {
  if ((req.cpu ?? 0) > f.cpu + 1e-9) return false;
  if (gpusWanted(req) > f.gpu) return false;
  if ((req.memoryMB ?? 0) > f.memoryMB) return false;
  return Object.entries(req.labels ?? {}).every(([k, v]) => f.labels[k] === v);
}

/** Indices on `node` already held by live members of `share` (where a colocated actor should go). */
export function groupGpuIndices(node: NodeEntry, actors: ActorEntry[], share: string | undefined): number[] {
  const held = new Set(holders(node, actors).filter((a) => sameGroup(a, share)).flatMap((a) => a.gpuIndices ?? []));
  return [...held].sort((a, b) => a - b);
}

/** Indices on `node` held by live members of `req`'s share group with its spread key (the devices a replica should avoid). */
export function spreadGpuIndices(node: NodeEntry, actors: ActorEntry[], req: Resources): number[] {
  if (req.gpuShare === undefined || req.gpuSpread === undefined) return [];
  const held = new Set(holders(node, actors).filter((a) => sameGroup(a, req.gpuShare) && a.resources.gpuSpread === req.gpuSpread).flatMap((a) => a.gpuIndices ?? []));
  return [...held].sort((a, b) => a - b);
}

/**
 * The GPU indices to give a request that fits `free`: the share group's own devices first (so
 * colocated actors land on the same GPUs), then the lowest free ones, and last the devices in
 * `spreadHeld` (held by members with the same spread key: replicas of one actor spread out).
 * Throws when too few are free.
 */
export function assignGpus(actor: string, req: Resources, nodeId: string, free: Free, groupHeld: number[] = [], spreadHeld: number[] = []): number[] {
  const k = gpusWanted(req);
  if (k === 0) return [];
  const open = new Set(free.gpuIndices);
  const avoid = new Set(spreadHeld);
  const first = [...groupHeld.filter((i) => open.has(i)), ...free.gpuIndices.filter((i) => !groupHeld.includes(i))];
  const order = [...first.filter((i) => !avoid.has(i)), ...first.filter((i) => avoid.has(i))];
  if (order.length < k || free.gpu < k) throw new PlacementError(actor, req, { [nodeId]: free }, `node '${nodeId}' has ${free.gpu} GPU(s) free for it`);
  return order.slice(0, k).sort((a, b) => a - b);
}

/** The id of the node to start `actor` on; throws PlacementError naming the request and what is free. */
export function place(actor: string, req: Resources, nodes: NodeEntry[], actors: ActorEntry[], opts: { node?: string; now?: number } = {}): string {
  const now = opts.now ?? Date.now();
  const live = nodes.filter((n) => now - n.lastHeartbeat < NODE_STALE_MS);
  const free = Object.fromEntries(live.map((n) => [n.id, freeResources(n, actors, req.gpuShare)]));
  if (opts.node !== undefined) {
    if (!free[opts.node]) throw new PlacementError(actor, { ...req, node: opts.node }, free, `node '${opts.node}' is not running`);
    if (!fits(req, free[opts.node])) throw new PlacementError(actor, { ...req, node: opts.node }, free, `node '${opts.node}' does not have enough free`);
    return opts.node;
  }
  const candidates = live.filter((n) => fits(req, free[n.id]));
  if (!candidates.length) throw new PlacementError(actor, req, free);
  // A colocated actor goes where its group already holds GPUs; then least loaded: keep GPUs
  // free for actors that need them, then spread by cpu.
  const withGroup = (n: NodeEntry) => (req.gpuShare !== undefined && groupGpuIndices(n, actors, req.gpuShare).length ? 0 : 1);
  const score = (n: NodeEntry) => [withGroup(n), req.gpu ? 0 : free[n.id].gpu, -free[n.id].cpu];
  candidates.sort((a, b) => {
    const sa = score(a);
    const sb = score(b);
    return sa[0] - sb[0] || sa[1] - sb[1] || sa[2] - sb[2];
  });
  return candidates[0].id;
}
