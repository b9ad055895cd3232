/**
 * The actor host: serves one object's public methods on `azr.<cluster>.actor.<name>.call`.
 * Covers: decoding requests (a malformed one gets an error reply, the actor stays up), one call
 * at a time in arrival order unless the method is concurrent, cancellation from the caller,
 * async-generator methods as credit-based streams (sequence-numbered frames, cumulative credit: see
 * wire.ts for what a stream guarantees when NATS loses messages), checkpoint after each call, one
 * span and metrics per call. Not: processes, registry or restarts (node-agent.ts), the caller side
 * (client.ts).
 */
import { randomUUID } from "node:crypto";
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers as natsHeaders, RequestError } from "@nats-io/nats-core";
import { SpanKind, type Context } from "@opentelemetry/api";
import { decode, encode } from "./codec.ts";
import { runInCallContext, type CallContext } from "./context.ts";
import type { CheckpointPolicy, MethodInfo } from "./define.ts";
import { errorToWire, type ActorErrorCode } from "./errors.ts";
import { sampleProcessTree } from "./monitor-process.ts";
import type { Handle } from "./handle.ts";
import { subjects } from "./names.ts";
import { Payloads } from "./payloads.ts";
import { ActorMetrics, extractTraceContext, withSpan, type ActorMetricsSnapshot } from "./telemetry.ts";
import {
  CallMode,
  decodeControl,
  decodeRequest,
  FRAME_END,
  FRAME_PING,
  HDR_ERROR,
  HDR_FRAME,
  HDR_SEQ,
  MalformedMessageError,
  type RequestFrame,
} from "./wire.ts";

export interface ActorHostOptions {
  nc: NatsConnection;
  cluster: string;
  name: string;
  instance: object;
  methods: MethodInfo[];
  /** When to call the instance's `saveState()` (if it has one). */
  checkpoint?: CheckpointPolicy;
  /** Stores what `saveState()` returned (JetStream, in production). */
  persistState?: (state: unknown) => Promise<void>;
  /** Resolves other actors for `callContext().getActor`. */
  getActor: <T extends object>(name: string) => Promise<Handle<T>>;
  payloads?: Payloads;
  /** How long stop() waits for the calls in flight; default STOP_GRACE_MS. */
  stopGraceMs?: number;
}

/**
 * One call's cancellation. The AbortController is made only when the method reads its signal:
 * most calls never do, and creating one per call is a measurable share of a small call's cost.
 */
class Cancellation {
  #ac?: AbortController;
  #reason: unknown;
  aborted = false;
  get signal(): AbortSignal {
    if (!this.#ac) {
      this.#ac = new AbortController();
      if (this.aborted) this.#ac.abort(this.#reason);
    }
    return this.#ac.signal;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.#reason = reason;
    this.#ac?.abort(reason);
  }
}

/** The CallContext of one served call (a class: no closures allocated per call). */
class ServedCall implements CallContext {
  constructor(
    readonly actor: string,
    readonly method: string,
    private readonly cancellation: Cancellation,
    readonly getActor: CallContext["getActor"],
    readonly checkpoint: () => Promise<void>,
  ) {}
  get signal(): AbortSignal {
    return this.cancellation.signal;
  }
}

interface StreamCredit {
  /** Data frames sent so far: the next frame's `azr-seq`. */
  sent: number;
  /** The consumer's cumulative credit: frames may be sent while `sent < upTo`. */
  upTo: number;
  wake?: () => void;
}

type Job = () => Promise<void>;

/** The reserved method every actor answers with its ActorStats (`cluster.stats(name)`). */
export const STATS_METHOD = "$stats";
/** The reserved method a client's liveness check asks: which of these calls do you hold? */
export const HOLDS_METHOD = "$holds";
/** A queued call that ran longer than this has its answer (and those before it) sent before the next call starts. */
const DRAIN_FLUSH_AFTER_MS = 1;

/** How long stop() waits for calls still running after their abort (as a process gets before SIGKILL). */
export const STOP_GRACE_MS = 5000;
/** A stream out of credit for this long asks whether its consumer still reads (FRAME_PING). */
export const STREAM_CONSUMER_CHECK_MS = 2000;

export interface ActorStats extends ActorMetricsSnapshot {
  actor: string;
  pid: number;
  /** Unique per host: a different value means a different incarnation answered. */
  instance: string;
  inFlight: number;
  /** Peak resident memory of the actor's process so far (its worker threads included; not child processes such as a torch worker). */
  maxRssBytes: number;
  /** Its live child processes' (a torch worker, Python executor workers…) peak resident memory, summed; 0 off Linux. */
  childrenMaxRssBytes: number;
  /** Accelerator memory, from the actor's `deviceMemory()` hook; absent for actors without one or on CPU. */
  deviceMemory?: ActorDeviceMemory;
}

/** What an actor's `deviceMemory()` hook returns (a torch engine on CUDA: its ranks' devices summed). */
export interface ActorDeviceMemory {
  /** Peak bytes reserved from the devices: what no other process can have. */
  peakReservedBytes: number;
  /** Peak bytes held by live tensors. */
  peakAllocatedBytes: number;
  devices: number;
}

const EMPTY = new Uint8Array(0);

function seqHeaders(seq: number): MsgHdrs {
  const h = natsHeaders();
  h.set(HDR_SEQ, String(seq));
  return h;
}

/** A ping answer: the consumer's credit total, or 0 (gone) for anything else. */
function decodeUpTo(data: Uint8Array): number {
  try {
    const v = decode(data);
    return typeof v === "number" && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}

export class ActorHost {
  readonly name: string;
  readonly instance = randomUUID();
  readonly #o: ActorHostOptions;
  readonly #nc: NatsConnection;
  readonly #methods: Map<string, MethodInfo>;
  readonly #payloads: Payloads;
  readonly #metrics: ActorMetrics;
  readonly #inflight = new Map<string, Cancellation>();
  readonly #streams = new Map<string, StreamCredit>();
  readonly #queue: Job[] = [];
  readonly #checkpointEachCall: boolean;
  #busy = false;
  #idle: (() => void)[] = [];
  #subs: Subscription[] = [];
  #stopped = false;
  #saving: Promise<void> = Promise.resolve();
  /** Replies, stream frames and error frames to publish when this turn of the event loop ends (#send). */
  #outbox: { subject: string; body: Uint8Array; headers?: MsgHdrs }[] = [];
  #outboxScheduled = false;

  private constructor(o: ActorHostOptions) {
    this.#o = o;
    this.#nc = o.nc;
    this.name = o.name;
    this.#methods = new Map(o.methods.map((m) => [m.name, m]));
    this.#payloads = o.payloads ?? new Payloads(o.nc);
    this.#metrics = new ActorMetrics(o.name);
    this.#checkpointEachCall =
      o.checkpoint !== "manual" && o.persistState !== undefined && typeof (o.instance as { saveState?: unknown }).saveState === "function";
  }

  /** Subscribes and resolves once the server has registered the subscriptions. */
  static async start(o: ActorHostOptions): Promise<ActorHost> {
    const host = new ActorHost(o);
    const s = subjects(o.cluster);
    host.#subs.push(
      o.nc.subscribe(s.call(o.name), { callback: (err, msg) => void (err || host.#onRequest(msg)) }),
      o.nc.subscribe(s.ctl(o.name), { callback: (err, msg) => void (err || host.#onControl(msg)) }),
    );
    await o.nc.flush();
    return host;
  }

  /** Calls, errors, latency percentiles, rate and queue depth of this actor, as served here. */
  stats(): ActorStats {
    const deviceMemory = this.#deviceMemory();
    return { actor: this.name, pid: process.pid, instance: this.instance, inFlight: this.#inflight.size, maxRssBytes: process.resourceUsage().maxRSS * 1024, childrenMaxRssBytes: sampleProcessTree()?.descendantsPeakRss ?? 0, ...(deviceMemory && { deviceMemory }), ...this.#metrics.snapshot() };
  }

  /** The instance's deviceMemory() hook, if it has one; a hook that throws is a missing figure, never a failed stats call. */
  #deviceMemory(): ActorDeviceMemory | undefined {
    const hook = (this.#o.instance as { deviceMemory?: () => ActorDeviceMemory | undefined }).deviceMemory;
    if (typeof hook !== "function") return undefined;
    try {
      return hook.call(this.#o.instance) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stops taking calls and aborts the ones in flight (synchronously, before the first await),
   * then waits for the queue to empty, at most `graceMs`: a method that ignores its signal must
   * not keep kill() or close() waiting for ever.
   */
  async stop(graceMs = this.#o.stopGraceMs ?? STOP_GRACE_MS): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of this.#subs) s.unsubscribe();
    for (const ac of this.#inflight.values()) ac.abort(new Error(`actor '${this.name}' is stopping`));
    for (const st of this.#streams.values()) st.wake?.();
    if (this.#busy) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => this.#idle.push(r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    this.#flush(); // answers made in this turn reach the connection before its owner closes it
  }

  /**
   * Publishes in order at the end of this event-loop turn, together with every other answer made
   * in it. Why: nats.js writes its buffer to the socket one microtask after a publish, and a
   * sequential actor answers its queued calls several microtasks apart, so 64 calls read in one
   * socket chunk were answered with 64 socket writes (the syscall was ~40% of the serving
   * process's time in bench-actors at 64 calls in flight) where a plain NATS responder, answering
   * inside the parser's loop, makes one.
   */
  #send(subject: string, body: Uint8Array, headers?: MsgHdrs): void {
    this.#outbox.push({ subject, body, headers });
    if (!this.#outboxScheduled) {
      this.#outboxScheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#outboxScheduled = false;
    const out = this.#outbox;
    this.#outbox = [];
    for (const m of out) {
      try {
        this.#nc.publish(m.subject, m.body, { headers: m.headers });
      } catch {
        // the connection closed under the actor: its callers learn that from the runtime, not from a reply
      }
    }
  };

  #onRequest(msg: Msg): void {
    const reply = msg.reply;
    if (!reply || this.#stopped) return; // no one to answer: a request always carries a reply subject
    if (this.#payloads.isLarge(msg.headers)) {
      // Fetching the body is async: keep the caller's order by doing it inside the queue.
      const ac = this.#register(reply);
      this.#enqueue(async () => {
        try {
          const frame = decodeRequest(await this.#payloads.unpack(msg.data, msg.headers));
          const info = this.#lookup(reply, frame);
          if (info) await this.#run(reply, msg.headers, frame, info, ac);
          else this.#inflight.delete(reply);
        } catch (e) {
          this.#inflight.delete(reply);
          this.#replyError(reply, e, e instanceof MalformedMessageError ? "MALFORMED" : "INTERNAL");
        }
      });
      return;
    }
    let frame: RequestFrame;
    try {
      frame = decodeRequest(msg.data);
    } catch (e) {
      this.#replyError(reply, e, "MALFORMED");
      return;
    }
    if (frame.method === STATS_METHOD) {
      // Answered outside the queue, like a NATS service's STATS: a busy actor still reports.
      void this.#reply(reply, this.stats(), STATS_METHOD).catch(() => undefined);
      return;
    }
    if (frame.method === HOLDS_METHOD) {
      // Which of the caller's calls (by reply subject) are queued or running here.
      const ids = Array.isArray(frame.args[0]) ? (frame.args[0] as unknown[]) : [];
      void this.#reply(reply, ids.filter((id) => typeof id === "string" && this.#inflight.has(id)), HOLDS_METHOD).catch(() => undefined);
      return;
    }
    const info = this.#lookup(reply, frame);
    if (!info) return;
    const ac = this.#register(reply);
    const job = () => this.#run(reply, msg.headers, frame, info, ac);
    if (info.concurrent) void job();
    else this.#enqueue(job);
  }

  #lookup(reply: string, frame: RequestFrame): MethodInfo | undefined {
    const info = this.#methods.get(frame.method);
    if (!info) {
      const known = [...this.#methods.keys()].join(", ");
      const e = new Error(`actor '${this.name}' has no public method '${frame.method}' (it has: ${known})`);
      e.name = "NoSuchMethodError";
      this.#replyError(reply, e, "NO_SUCH_METHOD");
    }
    return info;
  }

  #register(reply: string): Cancellation {
    const ac = new Cancellation();
    this.#inflight.set(reply, ac);
    return ac;
  }

  #enqueue(job: Job): void {
    this.#queue.push(job);
    this.#metrics.setQueueDepth(this.#queue.length);
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      this.#metrics.setQueueDepth(this.#queue.length);
      const t0 = performance.now();
      await job();
      // The next job may hold the thread for long (CPU work, or awaits that never reach I/O) and
      // the turn-end flush would wait for it: answers wait only while jobs are short.
      if (this.#outbox.length > 0 && performance.now() - t0 > DRAIN_FLUSH_AFTER_MS) this.#flush();
    }
    this.#busy = false;
    for (const r of this.#idle.splice(0)) r();
  }

  #onControl(msg: Msg): void {
    const c = decodeControl(msg.data);
    if (!c) return;
    if (c.t === "cancel") {
      this.#inflight.get(c.id)?.abort(new Error("cancelled by the caller"));
      this.#streams.get(c.id)?.wake?.();
    } else {
      const st = this.#streams.get(c.id);
      // Cumulative: a grant lost in a reconnect is covered by the next one (or the ping answer).
      if (st && c.upTo > st.upTo) {
        st.upTo = c.upTo;
        st.wake?.();
      }
    }
  }

  #context(method: string, c: Cancellation): CallContext {
    return new ServedCall(this.name, method, c, this.#o.getActor, this.#checkpointFn);
  }

  readonly #checkpointFn = () => this.#checkpoint();

  /**
   * One checkpoint at a time, each taking its snapshot only when its turn comes: with concurrent
   * methods two checkpoints can overlap, and an older snapshot written last would undo an
   * acknowledged call's effect on the saved state.
   */
  #checkpoint(): Promise<void> {
    const inst = this.#o.instance as { saveState?: () => unknown };
    const persist = this.#o.persistState;
    if (typeof inst.saveState !== "function" || !persist) return Promise.resolve();
    const run = this.#saving.then(async () => persist(await inst.saveState!()));
    this.#saving = run.catch(() => undefined);
    return run;
  }

  async #run(reply: string, hdrs: MsgHdrs | undefined, frame: RequestFrame, info: MethodInfo, ac: Cancellation): Promise<void> {
    if (ac.aborted) {
      this.#inflight.delete(reply);
      // Cancelled while queued: the caller is gone, nothing to answer. Cut by stop(): the caller
      // still waits, and learns that the actor stopped before its call ran.
      if (this.#stopped) this.#replyError(reply, new Error(`actor '${this.name}' stopped before the call ran`), "STOPPING", frame.mode === CallMode.Stream ? 0 : undefined);
      return;
    }
    const t0 = performance.now();
    let ok = false;
    const parent: Context | undefined = hdrs ? extractTraceContext(hdrs) : undefined;
    const ctx = this.#context(info.name, ac);
    const fn = (this.#o.instance as Record<string, (...a: unknown[]) => unknown>)[info.name];
    const spanOpts = { kind: SpanKind.SERVER, parent, attributes: { "azr.actor": this.name, "azr.method": info.name } };
    const st: StreamCredit | undefined = frame.mode === CallMode.Stream ? { sent: 0, upTo: frame.credit } : undefined;
    try {
      if (st) {
        await withSpan(`${this.name}.${info.name}`, spanOpts, () => this.#stream(reply, ctx, fn, frame, ac, st));
      } else {
        const result = await withSpan(`${this.name}.${info.name}`, spanOpts, async () =>
          runInCallContext(ctx, () => fn.apply(this.#o.instance, frame.args)),
        );
        if (this.#checkpointEachCall) await this.#checkpoint();
        await this.#reply(reply, result, info.name);
      }
      ok = true;
    } catch (e) {
      // Cut off by stop() (a kill, the node agent gone): the caller should see the actor die, and
      // retry on its next incarnation, not a method failure that ends it (as a generation aborted).
      this.#replyError(reply, e, this.#stopped ? "STOPPING" : ac.aborted ? "CANCELLED" : "METHOD_THREW", st?.sent);
    } finally {
      this.#inflight.delete(reply);
      this.#metrics.recordCall(info.name, performance.now() - t0, ok);
    }
  }

  async #reply(reply: string, result: unknown, method: string, headers?: MsgHdrs): Promise<void> {
    // `undefined` (a void method) travels as an empty body, which no msgpack value can be.
    if (result === undefined) {
      this.#send(reply, EMPTY, headers);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encode(result);
    } catch (e) {
      throw new Error(`actor '${this.name}'.${method}() returned a value the codec cannot encode: ${(e as Error).message}`, { cause: e });
    }
    if (bytes.length <= this.#payloads.inlineLimit) this.#send(reply, bytes, headers);
    else {
      const p = await this.#payloads.packLarge(bytes, headers);
      this.#send(reply, p.body, p.headers);
    }
  }

  /** Runs an async generator, sending one data frame per value while the caller has credit. */
  async #stream(
    reply: string,
    ctx: CallContext,
    fn: (...a: unknown[]) => unknown,
    frame: RequestFrame,
    ac: Cancellation,
    st: StreamCredit,
  ): Promise<void> {
    const gen = runInCallContext(ctx, () => fn.apply(this.#o.instance, frame.args)) as AsyncGenerator<unknown>;
    this.#streams.set(reply, st);
    try {
      for (;;) {
        while (st.sent >= st.upTo && !ac.aborted) {
          const woken = await new Promise<boolean>((r) => {
            const t = setTimeout(() => r(false), STREAM_CONSUMER_CHECK_MS);
            st.wake = () => {
              clearTimeout(t);
              r(true);
            };
          });
          // A consumer that died (or closed its client) mid-stream grants no more credit and
          // sends no cancel: without this check the stream, and a sequential actor's queue
          // behind it, would wait forever.
          if (!woken && st.sent >= st.upTo && !ac.aborted && !(await this.#consumerReads(reply, st))) {
            ac.abort(new Error("the stream's consumer is gone"));
          }
        }
        if (ac.aborted) {
          await gen.return(undefined); // run the generator's finally blocks
          // Stopped by stop(), the consumer is still there and must learn the stream was cut off
          // (#run's error reply says STOPPING); a consumer that left needs no answer.
          if (this.#stopped) throw new Error(`actor '${this.name}' is stopping`);
          return;
        }
        const r = await runInCallContext(ctx, () => gen.next());
        if (r.done) break;
        try {
          await this.#reply(reply, r.value, frame.method, seqHeaders(st.sent));
          st.sent++; // only once published: a value the codec refuses is not counted
        } catch (e) {
          // A value the codec refuses (or a failed upload) ends the stream with an error frame;
          // the generator, suspended at its yield, still gets to run its finally blocks.
          await gen.return(undefined).catch(() => undefined);
          throw e;
        }
      }
      const h = seqHeaders(st.sent);
      h.set(HDR_FRAME, FRAME_END);
      this.#send(reply, new Uint8Array(0), h);
    } finally {
      this.#streams.delete(reply);
    }
  }

  /**
   * Whether the consumer of stream `reply` still reads it; its answer also carries its credit
   * total, which repairs grants lost on the way. A timeout proves nothing (a busy consumer, or a
   * lost ping): true, and the next check asks again.
   */
  async #consumerReads(reply: string, st: StreamCredit): Promise<boolean> {
    const h = seqHeaders(st.sent);
    h.set(HDR_FRAME, FRAME_PING);
    this.#flush(); // the frames sent so far go first
    try {
      const m = await this.#nc.request(reply, EMPTY, { timeout: STREAM_CONSUMER_CHECK_MS, headers: h });
      const upTo = decodeUpTo(m.data);
      if (upTo > st.upTo) st.upTo = upTo;
      return upTo > 0;
    } catch (e) {
      return !(e instanceof RequestError && e.isNoResponders());
    }
  }

  /** `sent`: for a stream, the data frames sent before this error frame (its azr-seq, like an end frame's). */
  #replyError(reply: string, e: unknown, code: ActorErrorCode, sent?: number): void {
    const h = sent === undefined ? natsHeaders() : seqHeaders(sent);
    h.set(HDR_ERROR, "1");
    let body: Uint8Array;
    try {
      body = encode(errorToWire(e, code));
    } catch {
      body = encode(errorToWire(new Error(String(e)), code));
    }
    this.#send(reply, body, h);
  }
}
