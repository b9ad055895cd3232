/**
 * What an actor method can ask about the call it is serving: the caller's AbortSignal, its own
 * name, a way to reach other actors, and an explicit checkpoint. Read with `callContext()` inside
 * a method (AsyncLocalStorage, so concurrent methods each see their own call).
 *
 * ```ts
 * async train(batches: Batch[]) {
 *   const { signal } = callContext();
 *   for (const b of batches) { signal.throwIfAborted(); await this.step(b); }
 * }
 * ```
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Handle } from "./handle.ts";

export interface CallContext {
  /** Aborted when the caller aborts, times out, or the stream consumer stops reading. */
  readonly signal: AbortSignal;
  /** The name of the actor serving the call. */
  readonly actor: string;
  readonly method: string;
  /** A handle to another actor of the same cluster, looked up by name. */
  getActor<T extends object>(name: string): Promise<Handle<T>>;
  /** Saves the actor's state now (`saveState()` into JetStream); for `checkpoint: "manual"` actors. */
  checkpoint(): Promise<void>;
}

const storage = new AsyncLocalStorage<CallContext>();

/** The context of the call being served; throws outside an actor method. */
export function callContext(): CallContext {
  const ctx = storage.getStore();
  if (!ctx) throw new Error("callContext() was called outside an actor method: it is only defined while a call is served");
  return ctx;
}

/** Runs `fn` with `ctx` as the current call context (used by the host). */
export function runInCallContext<T>(ctx: CallContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
