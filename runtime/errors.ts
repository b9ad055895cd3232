/**
 * The runtime's failures, one class per failure, and the converter pair that carries a thrown
 * value across the wire. Covers: remote exceptions (name, message, remote stack), dead actors,
 * timeouts and aborts, malformed messages, placement, naming. Not: transport errors of the NATS
 * client itself, which are passed through as the `cause`.
 *
 * `instanceof` works by symbol marker (`Symbol.for`), so an error built by a second copy of this
 * module (another realm, another package copy) still matches.
 */

/** The closed set of codes an error reply carries. */
export type ActorErrorCode =
  | "METHOD_THREW" // the actor's method threw
  | "NO_SUCH_METHOD" // the method is not a public method of the actor
  | "MALFORMED" // the request could not be decoded
  | "CANCELLED" // the caller aborted or timed out and the actor stopped the call
  | "STOPPING" // the actor's process is stopping (killed, or its node agent is gone): the call was cut off there
  | "INTERNAL"; // the runtime itself failed while serving the call

/** An error as it travels in an error reply (flagged by the `azr-error` header). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code: ActorErrorCode;
  cause?: WireError;
  /**
   * The error's own plain-data fields (Node's `code`, ActorExistsError's `actor`…), so a caller can
   * branch on them rather than parse the message. Only JSON-like values travel, at most
   * MAX_DATA_BYTES of them: a field holding a socket or a class instance is not data.
   */
  data?: Record<string, unknown>;
}

function marked<T extends abstract new (...a: never[]) => Error>(cls: T, key: string): void {
  const mark = Symbol.for(key);
  Object.defineProperty(cls.prototype, mark, { value: true });
  Object.defineProperty(cls, Symbol.hasInstance, {
    value: (v: unknown) => typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[mark] === true,
  });
}

/** The actor's method threw (or the actor refused the request); `name` is the remote error's name. */
export class ActorMethodError extends Error {
  readonly code: ActorErrorCode;
  readonly actor: string;
  readonly method: string;
  /** The stack as it was in the actor process. */
  readonly remoteStack: string;
  /** The remote error's own plain-data fields (see WireError.data); {} when it had none. */
  readonly data: Readonly<Record<string, unknown>>;
  constructor(actor: string, method: string, wire: WireError) {
    super(wire.message, wire.cause ? { cause: wireToError(actor, method, wire.cause) } : undefined);
    this.name = wire.name;
    this.code = wire.code;
    this.actor = actor;
    this.method = method;
    this.remoteStack = wire.stack ?? `${wire.name}: ${wire.message}`;
    this.data = isPlainRecord(wire.data) ? wire.data : {};
    // The local frames say where the caller awaited; the remote ones say where it failed.
    this.stack = `${this.remoteStack}\n    --- called as ${actor}.${method}() from ---\n${(this.stack ?? "").split("\n").slice(1).join("\n")}`;
  }
  isMalformed(): boolean {
    return this.code === "MALFORMED";
  }
  isNoSuchMethod(): boolean {
    return this.code === "NO_SUCH_METHOD";
  }
}
marked(ActorMethodError, "azr.ActorMethodError");

/** The actor is not running, or the incarnation serving this call died before answering. */
export class ActorDiedError extends Error {
  override name = "ActorDiedError";
  constructor(
    readonly actor: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`actor '${actor}' died or is not running: ${reason}`, options);
  }
}
marked(ActorDiedError, "azr.ActorDiedError");

/**
 * Stream frames were lost between actor and consumer (core NATS drops what is published while a
 * side is disconnected, e.g. across a server restart): the values taken before it are whole and
 * in order, but the stream cannot go on without a gap. The actor was told to stop it.
 */
export class StreamInterruptedError extends Error {
  override name = "StreamInterruptedError";
  constructor(
    readonly actor: string,
    readonly method: string,
    readonly reason: string,
  ) {
    super(`stream ${actor}.${method}() was interrupted: ${reason}`);
  }
}
marked(StreamInterruptedError, "azr.StreamInterruptedError");

/** The caller's timeout expired; the actor was told to cancel the call. */
export class ActorCallTimeoutError extends Error {
  override name = "ActorCallTimeoutError";
  constructor(
    readonly actor: string,
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`call ${actor}.${method}() timed out after ${timeoutMs} ms; the actor was told to cancel it`);
  }
}
marked(ActorCallTimeoutError, "azr.ActorCallTimeoutError");

/** The caller's AbortSignal fired; `cause` is the signal's reason. */
export class ActorCallAbortedError extends Error {
  override name = "ActorCallAbortedError";
  constructor(
    readonly actor: string,
    readonly method: string,
    reason: unknown,
  ) {
    super(`call ${actor}.${method}() aborted by the caller; the actor was told to cancel it`, { cause: reason });
  }
}
marked(ActorCallAbortedError, "azr.ActorCallAbortedError");

export class ActorNotFoundError extends Error {
  override name = "ActorNotFoundError";
  /** `hint` replaces the default advice (e.g. "it is in cluster 'b': pass --cluster b"). */
  constructor(readonly actor: string, cluster: string, hint?: string) {
    super(`no actor named '${actor}' in cluster '${cluster}': ${hint ?? "spawn it first, or list actors with `azr actors`"}`);
  }
}

export class ActorExistsError extends Error {
  override name = "ActorExistsError";
  constructor(
    readonly actor: string,
    readonly state: string,
    readonly node: string,
  ) {
    super(`an actor named '${actor}' already exists (${state} on node ${node}): kill it first, or use getActor('${actor}')`);
  }
}

/** Thrown when no node's free resources fit the request. */
export class PlacementError extends Error {
  override name = "PlacementError";
  constructor(
    readonly actor: string,
    readonly request: object,
    readonly free: Record<string, object>,
    why = "no node has enough free resources",
  ) {
    const nodes = Object.entries(free).map(([id, f]) => `${id}: ${JSON.stringify(f)}`);
    super(
      `cannot place actor '${actor}' requesting ${JSON.stringify(request)}: ${why}. ` +
        (nodes.length ? `Free per node: ${nodes.join("; ")}` : "No node agent is running: start one (NodeAgent.start or `connect({ agent: true })`)."),
    );
  }
}

/** The class passed to spawn cannot be loaded by a child process. */
export class ActorDefinitionError extends Error {
  override name = "ActorDefinitionError";
}

/** A thrown value → its wire form. Non-Error values become an Error named after their type. */
export function errorToWire(e: unknown, code: ActorErrorCode = "METHOD_THREW", depth = 0): WireError {
  if (e instanceof ActorMethodError) {
    // A nested remote failure keeps its own remote stack and fields.
    return { name: e.name, message: e.message, stack: e.remoteStack, code, ...(Object.keys(e.data).length ? { data: { ...e.data } } : {}) };
  }
  if (e instanceof Error) {
    const cause = depth < 4 && e.cause !== undefined ? errorToWire(e.cause, code, depth + 1) : undefined;
    const data = plainFields(e);
    return { name: e.name, message: e.message, stack: cutRuntimeFrames(e.stack), code, ...(cause ? { cause } : {}), ...(data ? { data } : {}) };
  }
  return { name: "NonErrorThrown", message: `the actor threw a non-Error value: ${safeString(e)}`, code };
}

export function wireToError(actor: string, method: string, w: unknown): ActorMethodError {
  const ok = typeof w === "object" && w !== null && typeof (w as WireError).message === "string";
  const wire: WireError = ok
    ? (w as WireError)
    : { name: "MalformedErrorReply", message: `actor sent an error reply that is not a WireError: ${safeString(w)}`, code: "INTERNAL" };
  return new ActorMethodError(actor, method, wire);
}

/**
 * An error reply as the caller meets it: a call cut off because the actor's process was stopping
 * is the actor dying under it (ActorDiedError, which callers retry once a restarted or re-placed
 * incarnation serves), not a failure of the method; every other reply is the method's error.
 */
export function replyError(actor: string, method: string, w: unknown): ActorMethodError | ActorDiedError {
  const e = wireToError(actor, method, w);
  return e.code === "STOPPING" ? new ActorDiedError(actor, `its process stopped while serving ${method}() (${e.message})`, { cause: e }) : e;
}

/** The most bytes (as JSON) of an error's fields that travel with it; larger ones are left behind. */
const MAX_DATA_BYTES = 4096;

/** An error's own enumerable fields that are plain data, or undefined when it has none. */
function plainFields(e: Error): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let bytes = 0;
  for (const [k, v] of Object.entries(e)) {
    if (k === "name" || k === "message" || k === "stack" || k === "cause" || !isPlainData(v, { left: 1000 })) continue;
    const size = JSON.stringify(v).length + k.length;
    if (bytes + size > MAX_DATA_BYTES) continue;
    bytes += size;
    out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/** null, booleans, finite numbers, strings, and arrays / plain objects of them: at most `budget.left` values in all. */
function isPlainData(v: unknown, budget: { left: number }): boolean {
  if (--budget.left < 0) return false;
  if (v === null || typeof v === "boolean" || typeof v === "string") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v !== "object") return false;
  if (Array.isArray(v)) return v.every((x) => isPlainData(x, budget));
  return isPlainRecord(v) && Object.values(v).every((x) => isPlainData(x, budget));
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Frames of the runtime's own dispatch say nothing about the user's failure: cut them. */
function cutRuntimeFrames(stack?: string): string | undefined {
  if (!stack) return stack;
  const lines = stack.split("\n");
  const cut = lines.findIndex((l) => l.includes("/runtime/host.ts") || l.includes("node:internal/async_local_storage"));
  return (cut > 0 ? lines.slice(0, cut) : lines).join("\n");
}

function safeString(v: unknown): string {
  try {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return (s ?? String(v)).slice(0, 200);
  } catch {
    return String(v).slice(0, 200);
  }
}
