import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, NatsServerMissingError } from "../runtime/nats-server.ts";

test("nats-server - starts on a free loopback port with JetStream and monitoring, and stops", async () => {
  const srv = await startNatsServer();
  try {
    assert.match(srv.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await connect({ servers: srv.url });
    const rtt = await nc.rtt();
    assert.ok(rtt >= 0);
    await nc.close();
    const varz = (await (await fetch(`${srv.monitorUrl}/varz`)).json()) as { jetstream?: unknown };
    assert.ok(varz.jetstream, "jetstream enabled");
  } finally {
    await srv.stop();
  }
  await assert.rejects(connect({ servers: srv.url, reconnect: false, timeout: 500 }));
});

test("nats-server - a missing binary names make setup", async () => {
  await assert.rejects(startNatsServer({ binary: "/nonexistent/nats-server" }), (e: unknown) => {
    assert.ok(e instanceof NatsServerMissingError);
    assert.match((e as Error).message, /make setup/);
    return true;
  });
});
