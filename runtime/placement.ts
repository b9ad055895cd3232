/**
 * Placement: which node an actor goes to. A pure function over the nodes' advertised resources
 * and the actors already placed on them. Covers: cpu/gpu/memory fit, label match, a pinned
 * node, stale nodes skipped, least-loaded choice; the error names the request and what each
 * node has free. Not: reserving (the chosen node's agent re-checks when it starts the process).
 */
import { PlacementError } from "./errors.ts";
import type { ActorEntry, NodeEntry, Resources } from "./registry.ts";

/** A node whose heartbeat is older than this is treated as gone. */
export const NODE_STALE_MS = 10_000;

export interface Free {
  cpu: number;
  gpu: number;
  memoryMB: number;
  labels: Record<string, string>;
}

export function freeResources(node: NodeEntry, actors: ActorEntry[]): Free {
  const f = { cpu: node.resources.cpu, gpu: node.resources.gpu, memoryMB: node.resources.memoryMB, labels: node.resources.labels };
  for (const a of actors) {
    if (a.node !== node.id || a.state === "dead") continue;
    f.cpu -= a.resources.cpu ?? 0;
    f.gpu -= a.resources.gpu ?? 0;
    f.memoryMB -= a.resources.memoryMB ?? 0;
  }
  return f;
}

export function fits(req: Resources, f: Free): boolean {
  if ((req.cpu ?? 0) > f.cpu + 1e-9) return false;
  if ((req.gpu ?? 0) > f.gpu + 1e-9) return false;
  if ((req.memoryMB ?? 0) > f.memoryMB) return false;
  return Object.entries(req.labels ?? {}).every(([k, v]) => f.labels[k] === v);
}

/** The id of the node to start `actor` on; throws PlacementError naming the request and what is free. */
export function place(actor: string, req: Resources, nodes: NodeEntry[], actors: ActorEntry[], opts: { node?: string; now?: number } = {}): string {
  const now = opts.now ?? Date.now();
  const live = nodes.filter((n) => now - n.lastHeartbeat < NODE_STALE_MS);
  const free = Object.fromEntries(live.map((n) => [n.id, freeResources(n, actors)]));
  if (opts.node !== undefined) {
    if (!free[opts.node]) throw new PlacementError(actor, { ...req, node: opts.node }, free, `node '${opts.node}' is not running`);
    if (!fits(req, free[opts.node])) throw new PlacementError(actor, { ...req, node: opts.node }, free, `node '${opts.node}' does not have enough free`);
    return opts.node;
  }
  const candidates = live.filter((n) => fits(req, free[n.id]));
  if (!candidates.length) throw new PlacementError(actor, req, free);
  // Least loaded first: keep GPUs free for actors that need them, then spread by cpu.
  const score = (id: string) => [req.gpu ? 0 : free[id].gpu, -free[id].cpu];
  candidates.sort((a, b) => {
    const [a0, a1] = score(a.id);
    const [b0, b1] = score(b.id);
    return a0 - b0 || a1 - b1;
  });
  return candidates[0].id;
}
