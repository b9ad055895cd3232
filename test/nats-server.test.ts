import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
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

/** Alive, Linux: a zombie (exited, not yet reaped — pid 1 here may never reap orphans) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return existsSync("/proc/self/stat") ? false : true;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return !alive(pid);
}

test("nats-server - a SIGKILLed owner does not leave its server (or the watchdog) running", async () => {
  const owner = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./helpers/nats-server-owner.ts", import.meta.url)), JSON.stringify({ watchdog: { pollMs: 100, graceMs: 1000 } })],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const ownerExited = new Promise((r) => owner.once("exit", r));
  let info: { pid: number; url: string; watchdogPid?: number };
  try {
    const line = await Promise.race([
      once(createInterface({ input: owner.stdout! }), "line").then(([l]) => l as string),
      ownerExited.then((code) => Promise.reject(new Error(`the owner process exited (${code}) before starting its server`))),
    ]);
    info = JSON.parse(line);
    assert.ok(alive(info.pid), "server running while its owner is");
    if (info.watchdogPid !== undefined) assert.ok(alive(info.watchdogPid), "watchdog running while the owner is");
    await sleep(300); // a few polls: the watchdog must not fire while the owner lives
    assert.ok(alive(info.pid), "server still running while its owner is");
  } catch (e) {
    owner.kill("SIGKILL");
    throw e;
  }
  owner.kill("SIGKILL");
  await ownerExited;
  try {
    assert.ok(await waitGone(info.pid, 5000), `nats-server ${info.pid} outlived its SIGKILLed owner`);
    assert.ok(info.watchdogPid !== undefined, "a watchdog was started");
    assert.ok(await waitGone(info.watchdogPid, 3000), `watchdog ${info.watchdogPid} lingered`);
    await assert.rejects(connect({ servers: info.url, reconnect: false, timeout: 500 }));
  } finally {
    // Do not leave them behind when the check fails.
    if (alive(info.pid)) process.kill(info.pid, "SIGKILL");
    if (info.watchdogPid !== undefined && alive(info.watchdogPid)) process.kill(info.watchdogPid, "SIGKILL");
  }
});

test("nats-server - stop() leaves neither the server nor its watchdog running", async () => {
  const srv = await startNatsServer({ watchdog: { pollMs: 100, graceMs: 1000 } });
  const watchdogPid = srv.watchdogPid;
  try {
    assert.ok(watchdogPid !== undefined, "a watchdog was started");
    assert.ok(alive(watchdogPid), "watchdog running beside the server");
  } catch (e) {
    await srv.stop(); // a leaked server would keep this file's process from exiting
    throw e;
  }
  const t0 = Date.now();
  await srv.stop();
  assert.ok(Date.now() - t0 < 3000, "stop() does not wait on the watchdog");
  assert.ok(!alive(srv.pid), "server gone after stop()");
  assert.ok(await waitGone(watchdogPid, 2000), `watchdog ${watchdogPid} outlived stop()`);
});

test("nats-server - the watchdog exits by itself once its server has exited", async () => {
  const srv = await startNatsServer({ watchdog: { pollMs: 100, graceMs: 1000 } });
  try {
    assert.ok(srv.watchdogPid !== undefined, "a watchdog was started");
    process.kill(srv.pid, "SIGKILL"); // not stop(): that ends the watchdog itself
    assert.ok(await waitGone(srv.watchdogPid, 2000), `watchdog ${srv.watchdogPid} outlived its server`);
  } finally {
    await srv.stop();
  }
});

test("nats-server - watchdog: false starts none", async () => {
  const srv = await startNatsServer({ watchdog: false });
  try {
    assert.equal(srv.watchdogPid, undefined);
  } finally {
    await srv.stop();
  }
});
