/**
 * Typed handles: a mapped type over the actor class (tRPC-style, no codegen) and a thin proxy
 * that only maps method names onto the untyped client. Covers: the `Handle<A>` type, the proxy
 * (never thenable, so `await handle` cannot hang), per-handle call options. Not: the wire
 * (client.ts).
 *
 * ```ts
 * const learner = await cluster.spawn(Learner, [cfg], { name: "learner" }); // Handle<Learner>
 * const stats = await learner.step(batch);                                   // typed
 * for await (const r of engine.rollouts(prompts)) …                          // async-generator method
 * await withCallOptions(learner, { timeoutMs: 5000 }).step(batch);
 * ```
 */
import type { ActorClient, StreamOptions } from "./client.ts";
import type { MethodInfo } from "./define.ts";

type Lifecycle = "saveState" | "loadState";

/**
 * The remote view of actor class instance `A`: every public method, returning a promise or an
 * async iterable. An async method keeps its own signature, so a generic one (`echo<T>(x: T):
 * Promise<T>`) stays generic: `infer` would erase its type parameters to `unknown`.
 */
export type Handle<A> = {
  [K in keyof A as K extends Lifecycle ? never : K extends `_${string}` ? never : A[K] extends (...a: never[]) => unknown ? K : never]: A[K] extends (
    ...a: infer P
  ) => AsyncGenerator<infer Y, unknown, unknown>
    ? (...a: P) => AsyncIterableIterator<Y>
    : A[K] extends (...a: never[]) => Promise<unknown>
      ? A[K]
      : A[K] extends (...a: infer P) => infer R
        ? (...a: P) => Promise<Awaited<R>>
        : never;
};

/** What a handle points at; reachable with `handleRef(h)`. */
export interface ActorRef {
  name: string;
  methods: MethodInfo[];
  client: ActorClient;
  options: StreamOptions;
}

const REF = Symbol.for("azr.handleRef");

export function createHandle<A>(ref: ActorRef): Handle<A> {
  const kinds = new Map(ref.methods.map((m) => [m.name, m.kind]));
  const cache = new Map<string, (...a: unknown[]) => unknown>();
  return new Proxy(Object.create(null) as Handle<A>, {
    get(_t, prop) {
      if (prop === REF) return ref;
      // `await handle` looks for `then`: answering undefined keeps the handle from being thenable.
      if (typeof prop !== "string" || prop === "then") return undefined;
      let fn = cache.get(prop);
      if (!fn) {
        // A method not in the table (e.g. added by a newer version of the class) is tried as unary:
        // the actor answers NO_SUCH_METHOD if it really is unknown.
        fn =
          kinds.get(prop) === "stream"
            ? (...args: unknown[]) => ref.client.stream(ref.name, prop, args, ref.options)
            : (...args: unknown[]) => ref.client.call(ref.name, prop, args, ref.options);
        cache.set(prop, fn);
      }
      return fn;
    },
    has(_t, prop) {
      return typeof prop === "string" && kinds.has(prop);
    },
    ownKeys() {
      return [...kinds.keys()];
    },
    getOwnPropertyDescriptor(_t, prop) {
      return typeof prop === "string" && kinds.has(prop) ? { enumerable: true, configurable: true } : undefined;
    },
  });
}

/** The raw reference behind a handle (name, method table, client). */
export function handleRef(h: object): ActorRef {
  const ref = (h as Record<symbol, ActorRef | undefined>)[REF];
  if (!ref) throw new TypeError("not an actor handle: pass a handle returned by spawn(), getActor() or serve()");
  return ref;
}

/** The same actor, with `signal` / `timeoutMs` / stream `window` applied to every call made through it. */
export function withCallOptions<A>(h: Handle<A>, options: StreamOptions): Handle<A> {
  const ref = handleRef(h);
  return createHandle<A>({ ...ref, options: { ...ref.options, ...options } });
}
