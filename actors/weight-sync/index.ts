/**
 * Weight sync learner → rollout engine by handle: shm on one host, the JetStream object store
 * across hosts, inline as the fallback. handle.ts (the handle, the choice), publisher.ts (the
 * learner's side), loader.ts (the rollout engine's), sync.ts (the driver's, timed), files.ts and
 * object-store.ts (the two stores), host.ts (host identity, the shm folder), lora.ts (LoRA
 * versions: only the adapters move, merged into the reader's base).
 */
export * from "./handle.ts";
export { WeightPublisher, type WeightSource } from "./publisher.ts";
export { WeightLoader, type WeightSink } from "./loader.ts";
export { syncWeights, syncLine, type WeightSyncReport, type SyncLearner, type SyncRollout } from "./sync.ts";
export { WeightSyncError } from "./object-store.ts";
export { hostIdentity, shmRoot } from "./host.ts";
