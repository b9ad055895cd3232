/**
 * One trace across three actors: driver → a → b → c, each hop a NATS call carrying W3C trace
 * context in its headers, recorded by an in-memory span exporter (all actors served in this
 * process, Ray's local mode, so one exporter sees every span).
 */
import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { callContext } from "../../runtime/index.ts";
import { initTelemetry, withSpan, type Telemetry } from "../../runtime/telemetry.ts";
import { Counter } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

class A {
  async step(x: number): Promise<number> {
    const b = await callContext().getActor<B>("b");
    return (await b.step(x)) + 1;
  }
}
class B {
  async step(x: number): Promise<number> {
    const c = await callContext().getActor<Counter>("c");
    return (await c.add(x)) * 10;
  }
}

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;

describe("tracing", () => {
  // Telemetry must be registered before the cluster creates its per-actor metrics.
  before(async () => {
    telemetry = await initTelemetry("azr-trace-test", { spanExporter: exporter });
  });
  const t = useCluster("t-trace");
  after(async () => {
    await telemetry?.shutdown();
  });

  test("driver → a → b → c is one trace, each server span a child of its caller's client span", async () => {
    const a = await t.cluster.serve(new A(), { name: "a" });
    await t.cluster.serve(new B(), { name: "b" });
    await t.cluster.serve(new Counter(0), { name: "c" });
    exporter.reset();
    const r = await withSpan("driver step", { kind: SpanKind.INTERNAL }, () => a.step(2));
    assert.equal(r, 21);
    await telemetry.forceFlush();
    const spans = exporter.getFinishedSpans();
    const byName = (name: string, kind: SpanKind): ReadableSpan => {
      const s = spans.find((x) => x.name === name && x.kind === kind);
      assert.ok(s, `no ${SpanKind[kind]} span '${name}' among ${spans.map((x) => `${x.name}/${SpanKind[x.kind]}`).join(", ")}`);
      return s;
    };
    const driver = byName("driver step", SpanKind.INTERNAL);
    const traceId = driver.spanContext().traceId;
    const chain = [
      driver,
      byName("a.step", SpanKind.CLIENT),
      byName("a.step", SpanKind.SERVER),
      byName("b.step", SpanKind.CLIENT),
      byName("b.step", SpanKind.SERVER),
      byName("c.add", SpanKind.CLIENT),
      byName("c.add", SpanKind.SERVER),
    ];
    for (const s of chain) assert.equal(s.spanContext().traceId, traceId, `${s.name} is in the driver's trace`);
    for (let i = 1; i < chain.length; i++) {
      assert.equal(chain[i].parentSpanContext?.spanId, chain[i - 1].spanContext().spanId, `${chain[i].name} (${SpanKind[chain[i].kind]}) has the right parent`);
    }
    assert.equal(byName("c.add", SpanKind.SERVER).attributes["azr.actor"], "c");
  });

  test("a streamed call has a client span for its whole life, parent of the actor's server span", async () => {
    const c = await t.cluster.getActor<Counter>("c");
    exporter.reset();
    const got: number[] = [];
    await withSpan("driver stream", { kind: SpanKind.INTERNAL }, async () => {
      for await (const v of c.count(3)) got.push(v);
    });
    assert.deepEqual(got, [0, 1, 2]);
    await telemetry.forceFlush();
    const spans = exporter.getFinishedSpans();
    const driver = spans.find((s) => s.name === "driver stream");
    const client = spans.find((s) => s.name === "c.count" && s.kind === SpanKind.CLIENT);
    const server = spans.find((s) => s.name === "c.count" && s.kind === SpanKind.SERVER);
    assert.ok(driver && client && server, `spans: ${spans.map((x) => `${x.name}/${SpanKind[x.kind]}`).join(", ")}`);
    assert.equal(client.parentSpanContext?.spanId, driver.spanContext().spanId);
    assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(client.attributes["azr.stream"], true);
    // It ends when the stream does: after the server span's start, not before the last value.
    const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
    assert.ok(ms(client.endTime) >= ms(server.startTime), "the client span covers the stream");

    // A stream that fails marks its client span as an error.
    exporter.reset();
    await assert.rejects(async () => {
      for await (const _ of c.failAfter(1)) void _;
    });
    await telemetry.forceFlush();
    const failed = exporter.getFinishedSpans().find((s) => s.name === "c.failAfter" && s.kind === SpanKind.CLIENT);
    assert.equal(failed?.status.code, 2 /* ERROR */);
  });

  test("a remote exception marks the server span as an error", async () => {
    const c = await t.cluster.getActor<Counter>("c");
    exporter.reset();
    await assert.rejects(c.fail("traced failure"));
    await telemetry.forceFlush();
    const server = exporter.getFinishedSpans().find((s) => s.name === "c.fail" && s.kind === SpanKind.SERVER);
    assert.equal(server?.status.code, 2 /* ERROR */);
    assert.match(server?.status.message ?? "", /RangeError: traced failure/);
  });
});
