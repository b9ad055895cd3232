/**
 * Local step traces: what a process records when no OTLP exporter is configured, so that
 * `azr trace <step>` can show one self-play step's spans across actors with no collector to run.
 *
 * Covers: choosing a process's telemetry (the OTel SDK of telemetry.ts when OTEL_* configures
 * export, else this local recorder, else nothing with AZR_TRACES=off); a tracer provider with
 * the async-hooks context manager and W3C propagation; the step span the driver wraps each step
 * in; publishing each finished span as one JSON record on `azr.<cluster>.spans`. Not: writing
 * the run's trace file (telemetry-collector.ts), printing a trace (cli/commands/trace.ts).
 *
 * Sampling, chosen deliberately: only traces whose root span carries `azr.step` are recorded
 * (ParentBased with a root sampler that looks at that attribute). Every call made inside a step,
 * in any process, inherits the decision through the `traceparent` flags; calls outside steps
 * (benchmarks, tests, seeding, `azr attach`) make non-recording spans and publish nothing. The
 * trace file so grows with steps only, and the actor call path pays for no export when no step
 * is running.
 */
import { context, propagation, trace, SpanKind, SpanStatusCode, type Attributes, type AttributeValue, type Context, type Link } from "@opentelemetry/api";
import type { NatsConnection } from "@nats-io/nats-core";
import type { ReadableSpan, Sampler, SamplingResult, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { configuredSignals, initTelemetry, shutdownOnce, withSpan } from "./telemetry.ts";
import { subjects } from "./names.ts";
import { FLUSH_TIMEOUT_MS, flushWithin } from "./nats-flush.ts";
import { connectionDown } from "./connection.ts";

/** The attribute that marks a self-play step's root span (and so a recorded trace). */
export const STEP_ATTRIBUTE = "azr.step";
export const STEP_SPAN_NAME = "selfplay.step";

/** One finished span as published and stored (one JSON line in `traces/spans.jsonl`). */
export interface SpanRecord {
  trace: string;
  span: string;
  parent?: string;
  name: string;
  /** The process's service name, e.g. `azr-actor-learner`, `azr-driver`. */
  service: string;
  kind: "internal" | "server" | "client" | "producer" | "consumer";
  /** Epoch milliseconds. */
  start: number;
  ms: number;
  /** `Name: message` when the span ended with an error status. */
  error?: string;
  attrs: Record<string, AttributeValue>;
}

/** Runs one self-play step inside its root span: the trace `azr trace <step>` finds by `azr.step`. */
export function withStepSpan<T>(step: number, fn: () => Promise<T>): Promise<T> {
  return withSpan(STEP_SPAN_NAME, { kind: SpanKind.INTERNAL, attributes: { [STEP_ATTRIBUTE]: step } }, fn);
}

export interface ProcessTelemetry {
  /** "otlp": the OTel SDK exports by OTEL_*; "local": step spans go to the cluster's spans subject. */
  readonly mode: "otlp" | "local" | "off";
  /** Where local spans are published; spans finished earlier wait (up to a bound) until this is called. */
  attach(nc: NatsConnection, cluster: string): void;
  /** Publishes what has been recorded so far (local) or exports it (otlp). */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** A process without telemetry (AZR_TRACES=off, or a run whose traces could not be set up). */
export const NO_TELEMETRY: ProcessTelemetry = { mode: "off", attach() {}, async forceFlush() {}, async shutdown() {} };

/** Whether local step traces are wanted: on unless AZR_TRACES is off/0/false. */
export function localTracesEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return !/^(off|0|false|no)$/i.test((env.AZR_TRACES ?? "").trim());
}

/**
 * The telemetry of one azr process (an actor, the self-play driver): the OTel SDK when OTEL_*
 * configures an exporter, else local step traces, else none. Call once, before the process
 * hosts actors (their metrics instruments bind to the provider registered then).
 */
export async function startProcessTelemetry(service: string, env: NodeJS.ProcessEnv = process.env): Promise<ProcessTelemetry> {
  const signals = configuredSignals(env);
  if (signals.traces || signals.metrics || signals.logs) {
    const t = await initTelemetry(service);
    return { mode: "otlp", attach() {}, forceFlush: () => t.forceFlush(), shutdown: () => t.shutdown() };
  }
  return localTracesEnabled(env) ? startLocalTracing(service) : NO_TELEMETRY;
}

/** Spans kept while no connection is attached (start-up); later ones are dropped. */
const MAX_WAITING = 1000;
const KINDS: SpanRecord["kind"][] = ["internal", "server", "client", "producer", "consumer"];

function spanRecord(s: ReadableSpan, service: string): SpanRecord {
  const ctx = s.spanContext();
  const [sec, ns] = s.startTime;
  const [dsec, dns] = s.duration;
  const r: SpanRecord = {
    trace: ctx.traceId,
    span: ctx.spanId,
    name: s.name,
    service,
    kind: KINDS[s.kind] ?? "internal",
    start: sec * 1e3 + ns / 1e6,
    ms: dsec * 1e3 + dns / 1e6,
    attrs: {},
  };
  if (s.parentSpanContext) r.parent = s.parentSpanContext.spanId;
  if (s.status.code === SpanStatusCode.ERROR) r.error = s.status.message || "error";
  for (const [k, v] of Object.entries(s.attributes)) if (v !== undefined) r.attrs[k] = v;
  return r;
}

/** Publishes each finished span as one JSON message (SimpleSpanProcessor calls it span by span). */
class SubjectSpanExporter implements SpanExporter {
  #target?: { nc: NatsConnection; subject: string };
  #waiting: SpanRecord[] = [];
  /** Spans published since the last flush the server confirmed: what a failed flush may have lost. */
  #unconfirmed = 0;
  #dropped = 0;

  constructor(private readonly service: string) {}

  attach(nc: NatsConnection, cluster: string): void {
    this.#target = { nc, subject: subjects(cluster).spans() };
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const r of waiting) this.#publish(r);
  }

  #publish(r: SpanRecord): void {
    const t = this.#target;
    if (!t) {
      if (this.#waiting.length < MAX_WAITING) this.#waiting.push(r);
      else this.#drop(`more than ${MAX_WAITING} spans finished before the process was connected`);
      return;
    }
    // A closed connection (the process is stopping) loses the span rather than failing the call path.
    if (t.nc.isClosed()) return this.#drop("the NATS connection is closed");
    // Published now it would only queue in the client, which discards its queue at each reconnect attempt.
    if (connectionDown(t.nc)) return this.#drop("the NATS connection is down (server restarting or unreachable)");
    try {
      t.nc.publish(t.subject, JSON.stringify(r));
    } catch (e) {
      // Draining, or a record over the server's max_payload (a huge attribute): the span is lost, the call goes on.
      return this.#drop(`publishing on ${t.subject} failed: ${(e as Error).message}`);
    }
    this.#unconfirmed++;
  }

  /**
   * Counts a lost span; the first loss is said at once (the trace file will have holes), later
   * ones only in the total at shutdown, so a flood of losses is not a flood of warnings.
   */
  #drop(why: string): void {
    if (this.#dropped++ === 0) console.warn(`local tracing (${this.service}): a span was dropped (${why}); this run's step traces will miss spans. Further drops are counted and reported when tracing stops`);
  }

  /** Spans lost so far (never published). */
  get dropped(): number {
    return this.#dropped;
  }

  export(spans: ReadableSpan[], done: (r: { code: number }) => void): void {
    for (const s of spans) this.#publish(spanRecord(s, this.service));
    done({ code: 0 /* ExportResultCode.SUCCESS */ });
  }

  /**
   * Waits (at most FLUSH_TIMEOUT_MS) until the server has what was published. Bounded because it
   * runs at shutdown, when the server may be gone; what it could not confirm is named, not awaited.
   */
  async forceFlush(): Promise<void> {
    const t = this.#target;
    if (!t || t.nc.isClosed() || this.#unconfirmed === 0) return;
    const sent = this.#unconfirmed;
    const outcome = await flushWithin(t.nc);
    if (outcome === "ok") this.#unconfirmed -= sent;
    else console.warn(`local tracing (${this.service}): ${sent} span(s) published on ${t.subject} were not confirmed by the NATS server within ${FLUSH_TIMEOUT_MS} ms (${outcome}); they may be missing from the run's trace file`);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    if (this.#dropped > 0) console.warn(`local tracing (${this.service}): ${this.#dropped} span(s) were dropped in all and are missing from the run's trace file`);
  }
}

/** Samples a root span only when it is a step span (it carries STEP_ATTRIBUTE). */
class StepRootSampler implements Sampler {
  shouldSample(_ctx: Context, _traceId: string, _name: string, _kind: SpanKind, attributes: Attributes, _links: Link[]): SamplingResult {
    return { decision: attributes[STEP_ATTRIBUTE] !== undefined ? 2 /* RECORD_AND_SAMPLED */ : 0 /* NOT_RECORD */ };
  }
  toString(): string {
    return "StepRootSampler";
  }
}

let localActive = false;

async function startLocalTracing(service: string): Promise<ProcessTelemetry> {
  if (localActive) throw new Error("startProcessTelemetry: local tracing already started in this process; shut the first one down before starting again");
  // Loaded on demand (~0.2 s): only processes that trace pay for the SDK.
  const [{ BasicTracerProvider, ParentBasedSampler, SimpleSpanProcessor }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
  ]);
  const exporter = new SubjectSpanExporter(service);
  // Span by span, not batched: a span is on the wire before the reply of the call it covers,
  // so when a step's last call returns to the driver, every span of the step has been published.
  const processor = new SimpleSpanProcessor(exporter);
  const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new StepRootSampler() }), spanProcessors: [processor] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  localActive = true;
  return {
    mode: "local",
    attach: (nc, cluster) => exporter.attach(nc, cluster),
    forceFlush: () => provider.forceFlush(),
    shutdown: shutdownOnce(() => provider.shutdown(), () => (localActive = false)),
  };
}
