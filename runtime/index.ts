/**
 * The runtime's public API. Define an actor with `defineActor`, connect with `connect()`, then
 * `spawn` / `getActor` / `kill` / `restart` / `serve`; inside a method, `callContext()` gives the
 * caller's AbortSignal and other actors. Everything else in runtime/ is internal.
 */
export { connect, Cluster, DEFAULT_CLUSTER, type ConnectOptions, type SpawnOptions, type ServeOptions } from "./cluster.ts";
export { defineActor, type ActorClass, type ActorOptions, type CheckpointPolicy, type MethodInfo } from "./define.ts";
export { callContext, type CallContext } from "./context.ts";
export { withCallOptions, handleRef, type Handle } from "./handle.ts";
export { ActorClient, DEFAULT_STREAM_WINDOW, type CallOptions, type StreamOptions } from "./client.ts";
export type { ActorEvent } from "./events.ts";
export type { ActorStats } from "./host.ts";
export { followLogs, type LogLine } from "./logs.ts";
export { NodeAgent, type NodeAgentOptions } from "./node-agent.ts";
export { connectionSpecFromEnv, CONNECTION_ENV, type ConnectionSpec } from "./connection.ts";
export type { ActorEntry, ActorState, NodeEntry, Resources } from "./registry.ts";
export {
  ActorMethodError,
  ActorDiedError,
  ActorCallTimeoutError,
  ActorCallAbortedError,
  ActorNotFoundError,
  ActorExistsError,
  ActorDefinitionError,
  PlacementError,
  type ActorErrorCode,
} from "./errors.ts";
export { ActorStartError } from "./actor-process.ts";
