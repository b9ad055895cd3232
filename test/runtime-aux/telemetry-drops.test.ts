/**
 * runtime/telemetry-local.ts: spans that cannot be published (too many before the connection
 * is attached, a record over the server's max_payload) are lost without touching the call
 * path, and the loss is said: once when it starts, in total when tracing stops.
 * Local tracing is a per-process global: the tests run in order, each with its own set-up.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SpanKind } from "@opentelemetry/api";
import { connect } from "@nats-io/transport-node";
import { useNatsServer } from "../helpers/nats.ts";
import { withSpan } from "../../runtime/telemetry.ts";
import { startProcessTelemetry, withStepSpan } from "../../runtime/telemetry-local.ts";

const env = { AZR_TRACES: "on" }; // no OTEL_*: local step traces

describe("local tracing - lost spans are counted and said", () => {
  const nats = useNatsServer();

  test("a span over the server's max_payload: the call still succeeds, the loss is warned once and totalled at shutdown", async (t) => {
    const warned: string[] = [];
    t.mock.method(console, "warn", (s: string) => warned.push(s));
    const nc = await connect({ servers: nats.url });
    const tel = await startProcessTelemetry("azr-test", env);
    try {
      tel.attach(nc, "drops1");
      const got = await withStepSpan(1, async () => {
        for (let i = 0; i < 3; i++) await withSpan("huge", { kind: SpanKind.INTERNAL, attributes: { blob: "z".repeat(2 * 1024 * 1024) } }, async () => undefined);
        return 42;
      });
      assert.equal(got, 42, "the traced work is unaffected");
      await tel.forceFlush();
    } finally {
      await tel.shutdown();
      await nc.close();
    }
    const first = warned.filter((w) => /a span was dropped \(publishing on azr\.drops1\.spans failed: .*max_payload/.test(w));
    assert.equal(first.length, 1, warned.join("\n"));
    assert.ok(warned.some((w) => /local tracing \(azr-test\): 3 span\(s\) were dropped in all/.test(w)), warned.join("\n"));
  });

  test("more spans than are kept before the connection is attached: the excess is counted", async (t) => {
    const warned: string[] = [];
    t.mock.method(console, "warn", (s: string) => warned.push(s));
    const tel = await startProcessTelemetry("azr-early", env);
    try {
      await withStepSpan(2, async () => {
        for (let i = 0; i < 1200; i++) await withSpan("early", { kind: SpanKind.INTERNAL }, async () => undefined);
      });
    } finally {
      await tel.shutdown();
    }
    assert.ok(warned.some((w) => /a span was dropped \(more than 1000 spans finished before the process was connected\)/.test(w)), warned.join("\n"));
    assert.ok(warned.some((w) => /201 span\(s\) were dropped in all/.test(w)), warned.join("\n"));
  });
});
