/**
 * The runtime's public API. Everything else in runtime/ is internal.
 *
 * Define an actor (a class of public async methods; `async *` methods stream):
 *   export class Counter { n = 0; async add(k: number) { return (this.n += k); } async *ticks(n: number) { ... }
 *                          saveState() { return { n: this.n }; } loadState(s: { n: number }) { this.n = s.n; } }
 *   defineActor(import.meta.url, Counter, { concurrent: ["peek"] }); // exported under its class name
 * Connect, spawn, call:
 *   await using cluster = await connect({ agent: true });              // NATS_URL, or an embedded server
 *   const c = await cluster.spawn(Counter, [], { name: "counter", maxRestarts: 3, resources: { gpu: 1 } });
 *   // its process sees CUDA_VISIBLE_DEVICES = AZR_GPUS = the node's index it was given ("" with no gpu);
 *   // resources.gpuShare: "run-1" lets actors of that group be given the same GPUs (colocation)
 *   await c.add(1);                                   // Handle<Counter>: typed, a NATS request/reply
 *   for await (const t of c.ticks(10)) …              // credit-based stream
 *   await withCallOptions(c, { timeoutMs: 5000, signal }).add(1);  // cancels at the actor too
 *   const same = await cluster.getActor<Counter>("counter"); await cluster.kill("counter");
 *   const local = await cluster.serve(new Counter(), { name: "here" }); // hosted in this process
 * Inside a method: `callContext()` → { signal, actor, method, getActor, checkpoint }.
 * Failures: ActorMethodError (remote name/message/stack), ActorDiedError, ActorCallTimeoutError,
 * ActorCallAbortedError, PlacementError, ActorExistsError, ActorNotFoundError, ActorStartError.
 */
export { connect, Cluster, DEFAULT_CLUSTER, type ConnectOptions, type SpawnOptions, type ServeOptions } from "./cluster.ts";
export { defineActor, type ActorClass, type ActorOptions, type CheckpointPolicy, type MethodInfo } from "./define.ts";
export { callContext, type CallContext } from "./context.ts";
export { withCallOptions, handleRef, type Handle } from "./handle.ts";
export { ActorClient, DEFAULT_STREAM_WINDOW, type CallOptions, type StreamOptions } from "./client.ts";
export type { ActorEvent } from "./events.ts";
export type { ActorDeviceMemory, ActorStats } from "./host.ts";
export { followLogs, type LogLine } from "./logs.ts";
export { NodeAgent, DEFAULT_RESTART_BACKOFF, type NodeAgentOptions, type RestartBackoff } from "./node-agent.ts";
export { connectionSpecFromEnv, CONNECTION_ENV, type ConnectionSpec } from "./connection.ts";
export type { ActorEntry, ActorState, NodeEntry, Resources } from "./registry.ts";
export { actorLiveness, nodeGone, NODE_LOST_MS } from "./registry.ts";
export { assignedDevice, assignedGpus, describeGpus, detectGpus, detectGpusSync, type GpuDetection, type GpuInfo } from "./gpus.ts";
export {
  ActorMethodError,
  ActorDiedError,
  StreamInterruptedError,
  ActorCallTimeoutError,
  ActorCallAbortedError,
  ActorNotFoundError,
  ActorExistsError,
  ActorDefinitionError,
  PlacementError,
  type ActorErrorCode,
} from "./errors.ts";
export { ActorStartError } from "./actor-process.ts";
export { StateCorruptError } from "./state-store.ts";
