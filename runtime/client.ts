/**
 * The untyped caller: `call(actor, method, args)` and `stream(actor, method, args)`. Covers: one
 * reply inbox per client (replies routed by token, no subscription per call), error replies
 * re-thrown as ActorMethodError, no-responders and death events turned into ActorDiedError at
 * once, AbortSignal and timeouts that also cancel the call at the actor, credit-based stream
 * reading (the buffer never exceeds the window), one client span per call with W3C trace context
 * in the headers. A stream across lost messages (a NATS server restart) either completes with
 * every value once and in order, or fails with StreamInterruptedError after an unbroken prefix
 * (never a hang, a skip or a repeat): frames are sequence-numbered and credit is cumulative
 * (wire.ts). Not: the typed proxy (handle.ts), looking actors up (cluster.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { context, propagation, SpanKind, trace, type Context } from "@opentelemetry/api";
import { decode, encode } from "./codec.ts";
import { ActorCallAbortedError, ActorCallTimeoutError, ActorDiedError, replyError, StreamInterruptedError } from "./errors.ts";
import type { ActorEvent } from "./events.ts";
import { subjects, type Subjects } from "./names.ts";
import { Payloads } from "./payloads.ts";
import { injectTraceHeaders, startSpan, withSpan } from "./telemetry.ts";
import { CallMode, CONSUMER_GONE, FRAME_END, FRAME_PING, HDR_ERROR, HDR_FRAME, HDR_SEQ, requestTuple, type ControlFrame } from "./wire.ts";

export interface CallOptions {
  /** Aborting rejects the call with ActorCallAbortedError and cancels it at the actor. */
  signal?: AbortSignal;
  /** Rejects with ActorCallTimeoutError after this long and cancels the call at the actor. */
  timeoutMs?: number;
  /**
   * Calls are at-most-once by default: a call in flight when its actor dies fails with
   * ActorDiedError even if it ran. With `retries: n` a unary call that fails that way is sent
   * again, up to n times, with back-off while the actor restarts (at-least-once: use it for
   * methods that are safe to repeat). Streams are never retried.
   */
  retries?: number;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

export interface StreamOptions extends CallOptions {
  /** Frames the actor may send ahead of the consumer; the client buffers at most this many. */
  window?: number;
}

export const DEFAULT_STREAM_WINDOW = 16;

interface Pending {
  readonly actor: string;
  /** Date.now() when published (Infinity while a large body is still uploading), for the liveness check. */
  sentAt: number;
  /** A reply (or the first stream frame) arrived: the actor had the call. */
  answered?: boolean;
  /** For a stream: its method, so the liveness check can say the stream (not the actor) was lost. */
  stream?: string;
  onMessage(msg: Msg): void;
  /** For a stream: answers its producer's FRAME_PING (credit total, or CONSUMER_GONE). */
  onPing?(msg: Msg): Uint8Array;
  fail(e: Error): void;
}

const NO_RESPONDERS = 503;

/**
 * The liveness check behind "a call never hangs on a dead actor". Death events fail calls at
 * once; in case one is lost (a reconnect, an agent that died with its actor), every
 * LIVENESS_CHECK_MS the client asks each actor with calls older than LIVENESS_AFTER_MS which of
 * them it still holds (`$holds`). Requests and the question travel in order on one connection,
 * so a call the actor does not hold, and whose reply has not arrived, was lost with a dead
 * incarnation; no responders means no process serves the actor. A timeout proves nothing (a
 * blocked event loop) and fails nothing. No clocks are compared across machines.
 */
export const LIVENESS_CHECK_MS = 2000;
export const LIVENESS_AFTER_MS = 2000;
const HOLDS_METHOD = "$holds";

export class ActorClient {
  readonly cluster: string;
  readonly nc: NatsConnection;
  readonly payloads: Payloads;
  readonly #s: Subjects;
  readonly #prefix: string;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #subs: Subscription[] = [];
  readonly #watchdog: NodeJS.Timeout;
  #checking = false;
  /** Per actor: the instance seen at the last liveness check and when it was asked. */
  readonly #seen = new Map<string, { instance: string; askedAt: number }>();

  private constructor(nc: NatsConnection, cluster: string, payloads?: Payloads) {
    this.nc = nc;
    this.cluster = cluster;
    this.payloads = payloads ?? new Payloads(nc);
    this.#s = subjects(cluster);
    this.#prefix = createInbox();
    this.#watchdog = setInterval(() => void this.#checkLiveness(), LIVENESS_CHECK_MS);
    this.#watchdog.unref(); // the check must not keep a finished script alive
  }

  /** Subscribes the reply inbox and the death events; resolves once the server has them. */
  static async start(nc: NatsConnection, cluster: string, payloads?: Payloads): Promise<ActorClient> {
    const c = new ActorClient(nc, cluster, payloads);
    const cut = c.#prefix.length + 1;
    c.#subs.push(
      nc.subscribe(`${c.#prefix}.*`, {
        callback: (err, msg) => {
          if (err) return;
          const token = msg.subject.slice(cut);
          // Replies carry no reply subject; a producer out of credit asking whether its stream is
          // still read does (its own check that an abandoned stream does not hold the actor).
          if (msg.reply && msg.headers?.get(HDR_FRAME) === FRAME_PING) {
            msg.respond(c.#pending.get(token)?.onPing?.(msg) ?? CONSUMER_GONE);
            return;
          }
          const p = c.#pending.get(token);
          if (p) p.onMessage(msg);
          // A large reply to a call that gave up (timeout, abort, a stream left): nobody fetches it.
          else if (c.payloads.isLarge(msg.headers)) c.payloads.discard(msg.data, msg.headers).catch(() => undefined);
        },
      }),
      nc.subscribe(c.#s.events("*"), { callback: (err, msg) => void (err || c.#onEvent(msg)) }),
    );
    await nc.flush();
    return c;
  }

  /** Fails every call in flight with ActorDiedError and stops listening. */
  close(): void {
    clearInterval(this.#watchdog);
    for (const s of this.#subs) s.unsubscribe();
    for (const p of [...this.#pending.values()]) p.fail(new ActorDiedError(p.actor, "the calling client was closed"));
    this.#pending.clear();
  }

  #onEvent(msg: Msg): void {
    let e: ActorEvent;
    try {
      e = decode<ActorEvent>(msg.data);
    } catch {
      return;
    }
    if (e.type !== "died" && e.type !== "dead" && e.type !== "killed") return;
    for (const p of [...this.#pending.values()]) {
      if (p.actor !== e.actor) continue;
      p.fail(new ActorDiedError(e.actor, `${e.type}: ${e.reason ?? "no reason given"} (incarnation ${e.incarnation})`));
    }
  }

  async #checkLiveness(): Promise<void> {
    if (this.#checking || this.nc.isClosed()) return;
    this.#checking = true;
    try {
      const now = Date.now();
      const old = new Map<string, Map<string, Pending>>(); // actor → reply subject → call
      for (const [token, p] of this.#pending) {
        if (now - p.sentAt < LIVENESS_AFTER_MS || p.answered) continue;
        if (!old.has(p.actor)) old.set(p.actor, new Map());
        old.get(p.actor)!.set(`${this.#prefix}.${token}`, p);
      }
      await Promise.all(
        [...old].map(async ([actor, calls]) => {
          let held: string[];
          try {
            held = (await this.#call(actor, HOLDS_METHOD, [[...calls.keys()]], { timeoutMs: LIVENESS_CHECK_MS })) as string[];
          } catch (e) {
            if (e instanceof ActorDiedError) for (const p of calls.values()) p.fail(new ActorDiedError(actor, "no process serves it any more (found by the liveness check)"));
            return;
          }
          const keep = new Set(held);
          for (const [id, p] of calls) {
            if (keep.has(id) || p.answered) continue;
            // A stream the actor no longer holds whose last frame never came: its incarnation
            // died, or it ended (or dropped a consumer that did not answer) while NATS lost messages.
            p.fail(
              p.stream === undefined
                ? new ActorDiedError(actor, "the incarnation that took this call is gone (found by the liveness check)")
                : new StreamInterruptedError(actor, p.stream, "the actor no longer serves it and its last frame never arrived (messages lost, e.g. across a NATS server restart, or the incarnation died; found by the liveness check)"),
            );
          }
        }),
      );
    } finally {
      this.#checking = false;
    }
  }

  #token(): string {
    return (this.#next++).toString(36);
  }

  #traceHeaders(ctx: Context = context.active()): MsgHdrs | undefined {
    // Untraced calls (no span, no baggage) carry no headers at all: nothing to allocate or encode.
    if (trace.getSpanContext(ctx) === undefined && propagation.getBaggage(ctx) === undefined) return undefined;
    const h = natsHeaders();
    injectTraceHeaders(h, ctx);
    return h.keys().length ? h : undefined;
  }

  #cancel(actor: string, id: string): void {
    const c: ControlFrame = { t: "cancel", id };
    this.nc.publish(this.#s.ctl(actor), encode(c));
  }

  /** Calls `actor.method(...args)` and resolves with its result. */
  call(actor: string, method: string, args: unknown[], opts: CallOptions = {}): Promise<unknown> {
    const once = () =>
      withSpan(`${actor}.${method}`, { kind: SpanKind.CLIENT, attributes: { "azr.actor": actor, "azr.method": method } }, () =>
        this.#call(actor, method, args, opts),
      );
    return opts.retries ? this.#withRetries(once, opts) : once();
  }

  async #withRetries(once: () => Promise<unknown>, opts: CallOptions): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await once();
      } catch (e) {
        if (!(e instanceof ActorDiedError) || attempt >= opts.retries! || this.nc.isClosed()) throw e;
        await sleep(Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS), undefined, { signal: opts.signal });
      }
    }
  }

  #call(actor: string, method: string, args: unknown[], opts: CallOptions): Promise<unknown> {
    opts.signal?.throwIfAborted();
    const token = this.#token();
    const reply = `${this.#prefix}.${token}`;
    const body = encode(requestTuple(method, args, CallMode.Unary));
    const hdrs = this.#traceHeaders();
    return new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(new ActorCallAbortedError(actor, method, opts.signal!.reason), true);
      const settle = (err: Error | undefined, cancelAtActor = false, value?: unknown) => {
        if (!this.#pending.delete(token)) return;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        if (cancelAtActor) this.#cancel(actor, reply);
        if (err) reject(err);
        else resolve(value);
      };
      const pending: Pending = {
        actor,
        sentAt: Date.now(),
        fail: (e) => settle(e),
        onMessage: (msg) => {
          pending.answered = true;
          const h = msg.headers;
          if (h && h.code === NO_RESPONDERS) return settle(new ActorDiedError(actor, "no process serves it (never started, dead, or restarting)"));
          if (h && this.payloads.isLarge(h)) {
            this.payloads.unpack(msg.data, h).then(
              (bytes) => this.#settleReply(actor, method, bytes, h, settle),
              (e: Error) => settle(e),
            );
            return;
          }
          this.#settleReply(actor, method, msg.data, h, settle);
        },
      };
      this.#pending.set(token, pending);
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => settle(new ActorCallTimeoutError(actor, method, opts.timeoutMs!), true), opts.timeoutMs);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const subject = this.#s.call(actor);
      if (body.length <= this.payloads.inlineLimit) {
        this.nc.publish(subject, body, { reply, headers: hdrs });
      } else {
        pending.sentAt = Number.POSITIVE_INFINITY; // not sent until the upload is done
        this.#publishLarge(token, subject, body, reply, hdrs, pending);
      }
    });
  }

  /**
   * Uploads a request body over the inline limit, then sends its reference, unless the call gave
   * up meanwhile: its cancel went out before the request, so the actor would run it anyway.
   */
  #publishLarge(token: string, subject: string, body: Uint8Array, reply: string, hdrs: MsgHdrs | undefined, p: Pending): void {
    this.payloads.packLarge(body, hdrs).then(
      (packed) => {
        if (!this.#pending.has(token)) {
          this.payloads.discard(packed.body, packed.headers).catch(() => undefined);
          return;
        }
        p.sentAt = Date.now();
        this.nc.publish(subject, packed.body, { reply, headers: packed.headers });
      },
      (e: Error) => p.fail(e),
    );
  }

  #settleReply(
    actor: string,
    method: string,
    bytes: Uint8Array,
    h: MsgHdrs | undefined,
    settle: (err: Error | undefined, cancel?: boolean, value?: unknown) => void,
  ): void {
    try {
      if (h && h.get(HDR_ERROR) === "1") settle(replyError(actor, method, decode(bytes)));
      else settle(undefined, false, bytes.length === 0 ? undefined : decode(bytes));
    } catch (e) {
      settle(new Error(`reply from ${actor}.${method}() could not be decoded: ${(e as Error).message}`, { cause: e }));
    }
  }

  /**
   * Calls an async-generator method; the iterator yields its values as they arrive. The actor
   * sends at most `window` values ahead of the consumer. Breaking out of the loop cancels the
   * generator at the actor.
   */
  stream(actor: string, method: string, args: unknown[], opts: StreamOptions = {}): AsyncIterableIterator<unknown> {
    return new StreamReader(this, actor, method, args, opts);
  }

  /** Used by StreamReader: registers a stream's reply token and sends its request. */
  _openStream(actor: string, method: string, args: unknown[], window: number, p: Pending, ctx: Context): { id: string; close(cancelAtActor: boolean): void; grant(upTo: number): void } {
    const token = this.#token();
    const reply = `${this.#prefix}.${token}`;
    this.#pending.set(token, p);
    const hdrs = this.#traceHeaders(ctx);
    const body = encode(requestTuple(method, args, CallMode.Stream, window));
    if (body.length <= this.payloads.inlineLimit) {
      this.nc.publish(this.#s.call(actor), body, { reply, headers: hdrs });
    } else {
      p.sentAt = Number.POSITIVE_INFINITY; // not sent until the upload is done
      this.#publishLarge(token, this.#s.call(actor), body, reply, hdrs, p);
    }
    return {
      id: reply,
      close: (cancelAtActor) => {
        if (this.#pending.delete(token) && cancelAtActor) this.#cancel(actor, reply);
      },
      grant: (upTo) => {
        const c: ControlFrame = { t: "credit", id: reply, upTo };
        this.nc.publish(this.#s.ctl(actor), encode(c));
      },
    };
  }
}

/**
 * The consumer side of a stream: a bounded buffer that grants credit as values are taken, and
 * checks each frame's sequence number (a gap ends the stream with StreamInterruptedError).
 */
class StreamReader implements AsyncIterableIterator<unknown> {
  readonly #buffer: unknown[] = [];
  readonly #window: number;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  /** Values taken by the caller, and the credit total granted (taken + window, sent in batches). */
  #taken = 0;
  #granted: number;
  /** Data frames received, counted as they arrive (before any large-body fetch): the next expected azr-seq. */
  #received = 0;
  #interrupted = false;
  #chain: Promise<void> = Promise.resolve();
  #handle: ReturnType<ActorClient["_openStream"]> | undefined;
  #span: ReturnType<typeof startSpan> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #onAbort: () => void;

  constructor(
    private readonly client: ActorClient,
    private readonly actor: string,
    private readonly method: string,
    private readonly args: unknown[],
    private readonly opts: StreamOptions,
  ) {
    this.#window = Math.max(1, opts.window ?? DEFAULT_STREAM_WINDOW);
    this.#granted = this.#window;
    this.#onAbort = () => this.#finish(new ActorCallAbortedError(actor, method, opts.signal!.reason), true);
  }

  /** How many values are buffered but not yet taken (never more than the window). */
  get buffered(): number {
    return this.#buffer.length;
  }

  #open(): void {
    this.opts.signal?.throwIfAborted();
    const pending: Pending = {
      actor: this.actor,
      sentAt: Date.now(),
      stream: this.method,
      fail: (e) => this.#finish(e, false),
      // Large frames are fetched asynchronously: a chain keeps frames in arrival order.
      onMessage: (msg) => {
        const h = msg.headers;
        if (this.#interrupted) {
          if (this.client.payloads.isLarge(h)) this.client.payloads.discard(msg.data, h).catch(() => undefined);
          return;
        }
        const last = h !== undefined && (h.get(HDR_FRAME) === FRAME_END || h.get(HDR_ERROR) === "1" || h.code === NO_RESPONDERS);
        // The last frame has arrived: the actor no longer holds the call, and that is fine.
        if (last) pending.answered = true;
        if (!this.#inSequence(h, last ? "its last frame" : "a value")) return;
        if (!last) this.#received++;
        this.#chain = this.#chain.then(() => this.#frame(msg));
      },
      // The ping follows the frames sent before it on the same subject: any still missing were lost.
      onPing: (msg) => (!this.#interrupted && this.#inSequence(msg.headers, "a credit check") ? encode(this.#granted) : CONSUMER_GONE),
    };
    // The client span lives as long as the stream: its context goes out in the request headers,
    // so the actor's server span (and whatever it calls) joins the caller's trace.
    this.#span = startSpan(`${this.actor}.${this.method}`, {
      kind: SpanKind.CLIENT,
      attributes: { "azr.actor": this.actor, "azr.method": this.method, "azr.stream": true },
    });
    this.#handle = this.client._openStream(this.actor, this.method, this.args, this.#window, pending, this.#span.ctx);
    if (this.opts.timeoutMs !== undefined) {
      this.#timer = setTimeout(() => this.#finish(new ActorCallTimeoutError(this.actor, this.method, this.opts.timeoutMs!), true), this.opts.timeoutMs);
    }
    this.opts.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Whether a frame's azr-seq is the number of data frames received so far. If not, frames were
   * lost: the values already here are still delivered, then the stream fails (and is cancelled).
   */
  #inSequence(h: MsgHdrs | undefined, what: string): boolean {
    const seq = h?.get(HDR_SEQ);
    if (!seq || Number(seq) === this.#received) return true;
    this.#interrupted = true;
    const lost = Number(seq) - this.#received;
    const e = new StreamInterruptedError(
      this.actor,
      this.method,
      `${lost > 0 ? `${lost} value(s)` : "frames"} lost in transit after the first ${this.#received} (NATS drops messages while a side is disconnected, e.g. across a server restart): ${what} arrived out of sequence`,
    );
    this.#chain = this.#chain.then(() => this.#finish(e, true));
    return false;
  }

  async #frame(msg: Msg): Promise<void> {
    const h = msg.headers;
    if (this.#ended) {
      // Queued behind the frame that ended the stream (or behind a return()): never fetched.
      if (this.client.payloads.isLarge(h)) this.client.payloads.discard(msg.data, h).catch(() => undefined);
      return;
    }
    try {
      if (h && h.code === NO_RESPONDERS) return this.#finish(new ActorDiedError(this.actor, "no process serves it (never started, dead, or restarting)"), false);
      if (h && h.get(HDR_FRAME) === FRAME_END) return this.#finish(undefined, false);
      const bytes = await this.client.payloads.unpack(msg.data, h);
      if (h && h.get(HDR_ERROR) === "1") return this.#finish(replyError(this.actor, this.method, decode(bytes)), false);
      this.#buffer.push(bytes.length === 0 ? undefined : decode(bytes));
      this.#wakeUp();
    } catch (e) {
      this.#finish(e as Error, true);
    }
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #finish(err: Error | undefined, cancelAtActor: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    if (this.#timer) clearTimeout(this.#timer);
    this.opts.signal?.removeEventListener("abort", this.#onAbort);
    this.#handle?.close(cancelAtActor);
    this.#span?.end(err);
    this.#wakeUp();
  }

  async next(): Promise<IteratorResult<unknown>> {
    if (!this.#handle) this.#open();
    for (;;) {
      if (this.#buffer.length) {
        const value = this.#buffer.shift();
        // Grant credit in batches of half a window: fewer control messages, no stall. The grant
        // is the running total, so one lost on the way is made good by the next.
        if (++this.#taken + this.#window - this.#granted >= Math.ceil(this.#window / 2) && !this.#ended) {
          this.#granted = this.#taken + this.#window;
          this.#handle!.grant(this.#granted);
        }
        return { value, done: false };
      }
      if (this.#ended) {
        if (this.#error) {
          const e = this.#error;
          this.#error = undefined; // thrown once; later next() calls report done
          throw e;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    this.#buffer.length = 0;
    this.#finish(undefined, true);
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
