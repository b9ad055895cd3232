/**
 * runtime/telemetry.ts: trace context across a header hop, error spans, metrics, and the
 * export policy (nothing leaves the process unless OTEL_* says where).
 * Tests run in order in this file: the SDK is a per-process global.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { SpanKind, SpanStatusCode, TraceFlags, context, trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { DataPointType, MetricReader, type Histogram } from "@opentelemetry/sdk-metrics";
import {
  ActorMetrics,
  configuredSignals,
  extractTraceContext,
  initTelemetry,
  injectTraceHeaders,
  shutdownOnce,
  withSpan,
} from "../../runtime/telemetry.ts";

/** A reader the test pulls from: collect() on demand, no timers. */
class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const OTEL_KEYS = Object.keys(process.env).filter((k) => k.startsWith("OTEL_"));
for (const k of OTEL_KEYS) delete process.env[k]; // the policy tests define the environment

test("telemetry - without initTelemetry: no-op spans, W3C headers still written and read, local metrics", async () => {
  assert.equal(await withSpan("noop", { kind: SpanKind.INTERNAL }, async () => 7), 7);
  const remote = trace.setSpanContext(context.active(), {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  const h = natsHeaders();
  injectTraceHeaders(h, remote);
  assert.equal(h.get("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const back = trace.getSpanContext(extractTraceContext(h));
  assert.equal(back?.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(back?.spanId, "b7ad6b7169203331");

  const m = new ActorMetrics("quiet");
  m.recordCall("f", 2, true);
  assert.equal(m.snapshot().calls, 1);
});

test("telemetry - a span injected into headers on one side is the parent of the span extracted on the other", async () => {
  const spans = new InMemorySpanExporter();
  const tel = await initTelemetry("test-trace", { spanExporter: spans });
  try {
    const h = natsHeaders();
    let downstream = natsHeaders();
    await withSpan("driver.step", { kind: SpanKind.CLIENT, attributes: { "azr.method": "step" } }, async () => {
      injectTraceHeaders(h);
    });
    // The receiving side: a fresh context, only the headers cross.
    await context.with(context.active(), () =>
      withSpan("learner.step", { kind: SpanKind.SERVER, parent: extractTraceContext(h) }, async () => {
        downstream = natsHeaders();
        injectTraceHeaders(downstream); // a nested call made while handling this one
      }),
    );
    await tel.forceFlush();
    const [client, server] = spans.getFinishedSpans();
    assert.equal(client.name, "driver.step");
    assert.equal(server.name, "learner.step");
    assert.equal(server.spanContext().traceId, client.spanContext().traceId, "one trace");
    assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId, "server is the client's child");
    assert.match(h.get("traceparent"), new RegExp(`^00-${client.spanContext().traceId}-${client.spanContext().spanId}-01$`));
    assert.match(downstream.get("traceparent"), new RegExp(`-${server.spanContext().spanId}-01$`), "nested calls carry the active span");
    assert.equal(server.kind, SpanKind.SERVER);
    assert.equal(client.attributes["azr.method"], "step");
  } finally {
    await tel.shutdown();
  }
});

test("telemetry - an exception in withSpan marks the span as an error, records it, and is re-thrown", async () => {
  const spans = new InMemorySpanExporter();
  const tel = await initTelemetry("test-error", { spanExporter: spans });
  try {
    class BoomError extends Error {
      override name = "BoomError";
    }
    await assert.rejects(
      withSpan("actor.fail", { kind: SpanKind.SERVER }, async () => {
        throw new BoomError("no such task 42");
      }),
      BoomError,
    );
    await tel.forceFlush();
    const [span] = spans.getFinishedSpans();
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, "BoomError: no such task 42");
    const event = span.events.find((e) => e.name === "exception");
    assert.equal(event?.attributes?.["exception.message"], "no such task 42");
    assert.equal(event?.attributes?.["exception.type"], "BoomError");
  } finally {
    await tel.shutdown();
  }
});

test("telemetry - shutdownOnce stops once; a failed stop still frees the globals and the process", async () => {
  let stops = 0;
  let released = 0;
  assert.ok(trace.setGlobalTracerProvider(new BasicTracerProvider()), "the test starts with no provider registered");
  const shutdown = shutdownOnce(async () => {
    stops++;
    throw new Error("exporter unreachable");
  }, () => released++);
  await assert.rejects(shutdown(), /exporter unreachable/);
  await shutdown();
  assert.deepEqual([stops, released], [1, 1]);
  assert.ok(trace.setGlobalTracerProvider(new BasicTracerProvider()), "a later set-up can register its own provider");
  trace.disable();
});

test("telemetry - ActorMetrics counts calls and errors in the snapshot and in the OTel instruments", async () => {
  const reader = new PullReader();
  const tel = await initTelemetry("test-metrics", { metricReader: reader });
  try {
    const m = new ActorMetrics("task-buffer");
    assert.deepEqual(m.snapshot(), { calls: 0, errors: 0, p50Ms: null, p99Ms: null, callsPerSec: 0, queueDepth: 0, busyMs: 0 });
    for (let i = 1; i <= 100; i++) m.recordCall(i % 10 === 0 ? "sample" : "add", i, i % 10 !== 0);
    m.setQueueDepth(5);
    const snap = m.snapshot();
    assert.equal(snap.calls, 100);
    assert.equal(snap.errors, 10);
    assert.equal(snap.busyMs, 5050, "the sum of the calls' durations (1 + 2 + … + 100 ms)");
    assert.equal(snap.p50Ms, 51);
    assert.equal(snap.p99Ms, 100);
    assert.ok(snap.callsPerSec > 0, `callsPerSec ${snap.callsPerSec}`);
    assert.equal(snap.queueDepth, 5);

    const { resourceMetrics } = await reader.collect();
    const byName = new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((x) => [x.descriptor.name, x]));
    const sum = (name: string) => byName.get(name)!.dataPoints.reduce((a, p) => a + (p.value as number), 0);
    assert.equal(sum("azr.actor.calls"), 100);
    assert.equal(sum("azr.actor.errors"), 10);
    const hist = byName.get("azr.actor.call.duration")!;
    assert.equal(hist.dataPointType, DataPointType.HISTOGRAM);
    assert.equal(hist.dataPoints.reduce((a, p) => a + (p.value as Histogram).count, 0), 100);
    const depth = byName.get("azr.actor.queue.depth")!.dataPoints[0];
    assert.equal(depth.value, 5);
    assert.equal(depth.attributes["azr.actor"], "task-buffer");
  } finally {
    await tel.shutdown();
  }
});

test("telemetry - the policy reads the standard OTEL_* variables", () => {
  assert.deepEqual(configuredSignals({}), { traces: false, metrics: false, logs: false });
  assert.deepEqual(configuredSignals({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), { traces: true, metrics: true, logs: false });
  assert.deepEqual(configuredSignals({ OTEL_TRACES_EXPORTER: "console" }), { traces: true, metrics: false, logs: false });
  assert.deepEqual(configuredSignals({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m" }), { traces: false, metrics: true, logs: false });
});

/** A stand-in OTLP/HTTP collector: records each request's path, answers 200. */
async function collector(port = 0): Promise<{ paths: string[]; url: string; close(): Promise<void> } | null> {
  const paths: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    paths.push(req.url ?? "");
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  server.listen(port, "127.0.0.1");
  try {
    await Promise.race([once(server, "listening"), once(server, "error").then(([e]) => Promise.reject(e))]);
  } catch {
    return null; // port taken
  }
  return {
    paths,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function exerciseAndShutdown(name: string): Promise<void> {
  const tel = await initTelemetry(name);
  const m = new ActorMetrics("a");
  await withSpan("op", { kind: SpanKind.INTERNAL }, async () => m.recordCall("f", 1, true));
  await tel.shutdown(); // flushes whatever was configured
}

test("telemetry - with no OTEL_* set nothing is sent to the SDK's default localhost:4318", async (t) => {
  const sink = await collector(4318);
  if (!sink) return t.skip("port 4318 is in use here; cannot watch the default endpoint");
  try {
    await exerciseAndShutdown("test-quiet");
    assert.deepEqual(sink.paths, []);
  } finally {
    await sink.close();
  }
});

test("telemetry - OTEL_EXPORTER_OTLP_ENDPOINT sends traces and metrics there", async () => {
  const sink = (await collector())!;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url;
  try {
    await exerciseAndShutdown("test-export");
    assert.ok(sink.paths.includes("/v1/traces"), `paths: ${sink.paths.join(", ")}`);
    assert.ok(sink.paths.includes("/v1/metrics"), `paths: ${sink.paths.join(", ")}`);
  } finally {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    await sink.close();
  }
});
