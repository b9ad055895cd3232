/**
 * Telemetry: OpenTelemetry traces and metrics for actor calls, and W3C trace context carried
 * in NATS headers so that driver → A → B is one trace.
 *
 * Covers: starting the Node SDK once per process with exporters chosen by the standard OTEL_*
 * variables; inject/extract of `traceparent`/`tracestate`; a span helper; per-actor metrics
 * (calls, errors, latency histogram, queue depth) plus a cheap local snapshot for `azr top`.
 * Not: logs (actors' stdout goes to files and a subject, see logs.ts), NATS server metrics.
 *
 * Export policy, chosen deliberately: sdk-node 0.223 exports by OTLP to localhost:4318 when no
 * OTEL_* variable is set, which means connection errors in every actor of a laptop run. Here a
 * signal is exported only when the user configured it: traces when OTEL_TRACES_EXPORTER or an
 * OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, ..._TRACES_ENDPOINT) is set, metrics likewise
 * with OTEL_METRICS_EXPORTER / ..._METRICS_ENDPOINT, logs only with OTEL_LOGS_EXPORTER.
 * Otherwise nothing leaves the process, but the SDK still installs its context manager and
 * propagator, so trace context received from upstream is passed on downstream.
 *
 * Everything here also works when initTelemetry was never called: the API is then a no-op
 * (non-recording spans, no-op instruments), and headers are still written with the W3C format.
 */
import {
  context,
  metrics,
  propagation,
  trace,
  SpanStatusCode,
  type Attributes,
  type Context,
  type SpanKind,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { MetricReader } from "@opentelemetry/sdk-metrics";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

const INSTRUMENTATION_SCOPE = "azr";

export interface TelemetryOptions {
  /** Export spans here (synchronously, span by span: meant for tests and local collectors). */
  spanExporter?: SpanExporter;
  /** Read metrics with this reader instead of the OTEL_* configuration. */
  metricReader?: MetricReader;
}

export interface Telemetry {
  /** Exports what has been recorded so far (span export waits for async resource detection). */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting; the process may initialise telemetry again afterwards. */
  shutdown(): Promise<void>;
}

interface Flushable {
  forceFlush?: () => Promise<void>;
}

let active: Telemetry | null = null;

/** Which signals the user configured through the standard environment variables. */
export function configuredSignals(env: NodeJS.ProcessEnv = process.env): { traces: boolean; metrics: boolean; logs: boolean } {
  const set = (k: string) => (env[k] ?? "").trim() !== "";
  const anyEndpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT");
  return {
    traces: set("OTEL_TRACES_EXPORTER") || anyEndpoint || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    metrics: set("OTEL_METRICS_EXPORTER") || anyEndpoint || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
    logs: set("OTEL_LOGS_EXPORTER"),
  };
}

/**
 * Starts the OpenTelemetry Node SDK for this process (see the header for what is exported).
 * Call it once, before creating ActorMetrics: instruments made earlier stay no-ops.
 */
export async function initTelemetry(serviceName: string, opts: TelemetryOptions = {}): Promise<Telemetry> {
  if (active) throw new Error("initTelemetry: already initialised in this process; call shutdown() on the first one before starting again");
  // Loaded on demand: sdk-node pulls in every exporter (~0.8 s), which importers of this
  // module that never initialise (CLI commands, tests) should not pay for.
  const [{ NodeSDK }, { SimpleSpanProcessor }] = await Promise.all([import("@opentelemetry/sdk-node"), import("@opentelemetry/sdk-trace-base")]);
  const signals = configuredSignals();
  const sdk = new NodeSDK({
    // The user's OTEL_SERVICE_NAME wins over ours, as OTel's configuration spec has it; the
    // actor's name is on every span as an attribute either way.
    serviceName: process.env.OTEL_SERVICE_NAME?.trim() || serviceName,
    // undefined = let the SDK build exporters from OTEL_*; [] = export nothing.
    spanProcessors: opts.spanExporter ? [new SimpleSpanProcessor(opts.spanExporter)] : signals.traces ? undefined : [],
    metricReaders: opts.metricReader ? [opts.metricReader] : signals.metrics ? undefined : [],
    logRecordProcessors: signals.logs ? undefined : [],
  });
  sdk.start();
  const handle: Telemetry = {
    async forceFlush() {
      if (active !== handle) return;
      // The registered SDK providers (behind the API's proxy) own the processors and readers.
      const tracerProvider = (trace.getTracerProvider() as { getDelegate?: () => Flushable }).getDelegate?.();
      const meterProvider = metrics.getMeterProvider() as Flushable;
      await Promise.all([tracerProvider?.forceFlush?.(), meterProvider.forceFlush?.()]);
    },
    shutdown: shutdownOnce(() => {
      active = null;
      return sdk.shutdown();
    }),
  };
  active = handle;
  return handle;
}

/**
 * A process telemetry's shutdown (the OTel SDK here, the local recorder of telemetry-local.ts):
 * runs `stop` once, then unregisters the API globals even when stopping failed, then `release`s
 * the process for a later set-up.
 */
export function shutdownOnce(stop: () => Promise<unknown>, release: () => void = () => {}): () => Promise<void> {
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    try {
      await stop();
    } finally {
      unregisterGlobals();
      release();
    }
  };
}

/** Unregisters the OTel API's globals so a later set-up (tests, a restarted host) can install its own. */
export function unregisterGlobals(): void {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}

const headerSetter: TextMapSetter<MsgHdrs> = { set: (h, key, value) => h.set(key, value) };
const headerGetter: TextMapGetter<MsgHdrs> = {
  get: (h, key) => (h.has(key) ? h.get(key) : undefined),
  keys: (h) => h.keys(),
};
/** Used when no SDK registered a propagator, so the wire format never depends on set-up. */
const w3c = new W3CTraceContextPropagator();
const hasGlobalPropagator = (): boolean => propagation.fields().length > 0;

/** Writes the active trace context into NATS headers (`traceparent`, `tracestate`). */
export function injectTraceHeaders(headers: MsgHdrs, ctx: Context = context.active()): void {
  // Nothing to carry (no span, no baggage) is the common untraced case: skip the propagators.
  if (trace.getSpanContext(ctx) === undefined && propagation.getBaggage(ctx) === undefined) return;
  if (hasGlobalPropagator()) propagation.inject(ctx, headers, headerSetter);
  else w3c.inject(ctx, headers, headerSetter);
}

/** The trace context carried by NATS headers (the active context when there is none). */
export function extractTraceContext(headers?: MsgHdrs, base: Context = context.active()): Context {
  if (!headers) return base;
  return hasGlobalPropagator() ? propagation.extract(base, headers, headerGetter) : w3c.extract(base, headers, headerGetter);
}

export interface SpanOptions {
  kind: SpanKind;
  attributes?: Attributes;
  /** Parent context, e.g. from extractTraceContext; default the active context. */
  parent?: Context;
}

/**
 * Runs `fn` inside a new span, active for its duration (so calls made inside inject it).
 * A throw marks the span as an error with the exception recorded, and is re-thrown.
 */
export async function withSpan<T>(name: string, opts: SpanOptions, fn: () => Promise<T>): Promise<T> {
  const span = startSpan(name, opts);
  try {
    const result = await context.with(span.ctx, fn);
    span.end();
    return result;
  } catch (e) {
    span.end(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

/**
 * A span that outlives one callback (a streamed call: opened on the first `next()`, ended when the
 * stream ends, fails or is left): `ctx` carries it (to make it active, or for header injection),
 * `end` closes it once, marking it as an error — exception recorded — when given one.
 */
export function startSpan(name: string, opts: SpanOptions): { ctx: Context; end(err?: Error): void } {
  const parent = opts.parent ?? context.active();
  const span = trace.getTracer(INSTRUMENTATION_SCOPE).startSpan(name, { kind: opts.kind, attributes: opts.attributes }, parent);
  let ended = false;
  return {
    ctx: trace.setSpan(parent, span),
    end(err) {
      if (ended) return;
      ended = true;
      if (err) {
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${err.name}: ${err.message}` });
      }
      span.end();
    },
  };
}

export interface ActorMetricsSnapshot {
  calls: number;
  errors: number;
  /** Over the most recent calls (up to RECENT_CALLS); null before the first call. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Over the last RATE_WINDOW_MS. */
  callsPerSec: number;
  queueDepth: number;
  /** Sum of every call's duration since the actor started (overlapping calls each count): its busy time, for per-step deltas. */
  busyMs: number;
}

/** How many recent calls the local percentiles and rate look at. */
export const RECENT_CALLS = 2048;
export const RATE_WINDOW_MS = 10_000;

/**
 * One actor's call metrics: OTel instruments (exported when metrics are configured) and a
 * local summary, kept in a fixed-size ring so recording stays O(1) on the call path.
 */
export class ActorMetrics {
  readonly actorName: string;
  #calls = 0;
  #errors = 0;
  #busyMs = 0;
  #queueDepth = 0;
  readonly #ringMs = new Float64Array(RECENT_CALLS);
  readonly #ringAt = new Float64Array(RECENT_CALLS); // performance.now() at completion
  #ringNext = 0;
  readonly #createdAt = performance.now();
  readonly #attrs: Attributes;
  readonly #methodAttrs = new Map<string, Attributes>();
  readonly #callCounter;
  readonly #errorCounter;
  readonly #latency;

  constructor(actorName: string) {
    this.actorName = actorName;
    this.#attrs = { "azr.actor": actorName };
    const meter = metrics.getMeter(INSTRUMENTATION_SCOPE);
    this.#callCounter = meter.createCounter("azr.actor.calls", { description: "method calls handled by the actor" });
    this.#errorCounter = meter.createCounter("azr.actor.errors", { description: "method calls that threw" });
    this.#latency = meter.createHistogram("azr.actor.call.duration", { description: "method call duration", unit: "ms" });
    meter
      .createObservableGauge("azr.actor.queue.depth", { description: "calls waiting for the actor" })
      .addCallback((result) => result.observe(this.#queueDepth, this.#attrs));
  }

  recordCall(method: string, ms: number, ok: boolean): void {
    this.#calls++;
    this.#busyMs += ms;
    if (!ok) this.#errors++;
    this.#ringMs[this.#ringNext % RECENT_CALLS] = ms;
    this.#ringAt[this.#ringNext % RECENT_CALLS] = performance.now();
    this.#ringNext++;
    const attrs = this.#attrsFor(method, ok);
    this.#callCounter.add(1, attrs);
    if (!ok) this.#errorCounter.add(1, attrs);
    this.#latency.record(ms, attrs);
  }

  /** Attribute sets are reused per (method, outcome): no allocation per call. */
  #attrsFor(method: string, ok: boolean): Attributes {
    const key = ok ? method : `${method}\u0000error`;
    let attrs = this.#methodAttrs.get(key);
    if (!attrs) {
      attrs = { "azr.actor": this.actorName, "azr.method": method, "azr.outcome": ok ? "ok" : "error" };
      this.#methodAttrs.set(key, attrs);
    }
    return attrs;
  }

  setQueueDepth(n: number): void {
    this.#queueDepth = n;
  }

  snapshot(): ActorMetricsSnapshot {
    const n = Math.min(this.#ringNext, RECENT_CALLS);
    const now = performance.now();
    let p50Ms: number | null = null;
    let p99Ms: number | null = null;
    if (n > 0) {
      const sorted = this.#ringMs.slice(0, n).sort();
      p50Ms = sorted[Math.min(n - 1, Math.floor(0.5 * n))];
      p99Ms = sorted[Math.min(n - 1, Math.floor(0.99 * n))];
    }
    let inWindow = 0;
    let oldest = now;
    for (let i = 0; i < n; i++) {
      const at = this.#ringAt[i];
      if (now - at <= RATE_WINDOW_MS) {
        inWindow++;
        oldest = Math.min(oldest, at);
      }
    }
    // A full ring inside the window means the window is longer than the ring covers: use the
    // ring's own span. Early on, the window is only as long as the actor has existed.
    const spanMs = inWindow === RECENT_CALLS ? now - oldest : Math.min(RATE_WINDOW_MS, now - this.#createdAt);
    const callsPerSec = inWindow === 0 || spanMs <= 0 ? 0 : (inWindow * 1000) / spanMs;
    return { calls: this.#calls, errors: this.#errors, p50Ms, p99Ms, callsPerSec, queueDepth: this.#queueDepth, busyMs: this.#busyMs };
  }
}
