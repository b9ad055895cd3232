/**
 * Declaring an actor class: where a child process finds it (`defineActor(import.meta.url, Cls)`),
 * which methods may run concurrently, and the method table read off the class (unary vs
 * streaming). Covers: the metadata and its checks. Not: serving (host.ts) or spawning
 * (cluster.ts).
 *
 * ```ts
 * export class Counter { n = 0; async add(k: number) { return (this.n += k); } async peek() { return this.n; } }
 * defineActor(import.meta.url, Counter, { concurrent: ["peek"] });
 * ```
 */
import { ActorDefinitionError } from "./errors.ts";

// Any constructor: actor classes take whatever arguments they declare.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActorClass<A extends object = object> = new (...args: any[]) => A;

export interface MethodInfo {
  name: string;
  /** `stream` for async-generator methods, answered as a sequence of frames. */
  kind: "unary" | "stream";
  /** Runs without waiting for the actor's other calls to finish. */
  concurrent: boolean;
}

/** When `saveState()` is called, for actors that implement it. */
export type CheckpointPolicy =
  /** After every call that completed, before its reply: an acknowledged call's effect survives a crash. */
  | "after-each-call"
  /** Only when the actor calls `callContext().checkpoint()`. */
  | "manual";

export interface ActorOptions<A extends object> {
  concurrent?: readonly (keyof A & string)[];
  checkpoint?: CheckpointPolicy;
}

export interface ActorMeta {
  moduleUrl: string;
  exportName: string;
  concurrent: readonly string[];
  checkpoint: CheckpointPolicy;
}

/**
 * Hooks the runtime calls itself; they are not remote methods. `deviceMemory()` (synchronous,
 * optional): an actor on an accelerator reports its memory there, and its stats carry it.
 */
export const LIFECYCLE_METHODS = new Set(["constructor", "saveState", "loadState", "deviceMemory"]);

const META = Symbol.for("azr.actorMeta");

/**
 * Marks `cls` as an actor defined in module `moduleUrl` (pass `import.meta.url`) and exported
 * under its class name, so a child process can import it. Returns the class unchanged.
 */
export function defineActor<C extends ActorClass>(moduleUrl: string, cls: C, opts: ActorOptions<InstanceType<C>> = {}): C {
  if (!moduleUrl.startsWith("file:")) {
    throw new ActorDefinitionError(`defineActor(${cls.name}): pass import.meta.url (a file: URL), got '${moduleUrl}'`);
  }
  const methods = new Set(methodNames(cls.prototype));
  for (const m of opts.concurrent ?? []) {
    if (!methods.has(m)) throw new ActorDefinitionError(`defineActor(${cls.name}): concurrent method '${m}' is not a public method of the class`);
  }
  const meta: ActorMeta = {
    moduleUrl,
    exportName: cls.name,
    concurrent: [...(opts.concurrent ?? [])],
    checkpoint: opts.checkpoint ?? "after-each-call",
  };
  Object.defineProperty(cls, META, { value: meta, configurable: true });
  return cls;
}

/** The metadata of a class passed to defineActor; undefined for a plain class. */
export function actorMeta(cls: ActorClass): ActorMeta | undefined {
  return Object.prototype.hasOwnProperty.call(cls, META) ? ((cls as unknown as Record<symbol, ActorMeta>)[META]) : undefined;
}

/** Same as actorMeta, but throws an error that says how to fix a missing defineActor. */
export function requireActorMeta(cls: ActorClass): ActorMeta {
  const meta = actorMeta(cls);
  if (!meta) {
    throw new ActorDefinitionError(
      `class ${cls.name} cannot be spawned in another process: add \`defineActor(import.meta.url, ${cls.name})\` after it, and export it by its class name`,
    );
  }
  return meta;
}

const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;

/** The public methods of `proto` and up its prototype chain (names starting with `_` are private by convention). */
function methodNames(proto: object): string[] {
  const seen = new Set<string>();
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (LIFECYCLE_METHODS.has(name) || name.startsWith("_")) continue;
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (d && typeof d.value === "function") seen.add(name);
    }
  }
  return [...seen];
}

/**
 * The method table of an actor class, or of an instance (for in-process hosting and actor
 * processes). An instance's own function properties count too, as `Handle<A>` types them: an
 * object literal (`serve({ async ping() {} }, …)`) or an arrow-function field is callable.
 */
export function describeMethods(target: object, concurrent: readonly string[] = []): MethodInfo[] {
  const from = (typeof target === "function" ? (target as ActorClass).prototype : target) as Record<string, unknown>;
  const conc = new Set(concurrent);
  return methodNames(from).map((name) => ({
    name,
    kind: from[name] instanceof AsyncGeneratorFunction ? "stream" : "unary",
    concurrent: conc.has(name),
  }));
}
