import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { runDoctor } from "../../cli/commands/doctor.ts";
import { useNatsServer } from "../helpers/nats.ts";

test("doctor - reports nats, the chosen python with its reason, and onnxruntime", async () => {
  const checks = await runDoctor();
  const byName = new Map(checks.map((c) => [c.name, c]));
  assert.ok(byName.get("nats")?.ok, byName.get("nats")?.detail);
  assert.match(byName.get("python")!.detail, /chosen because/);
  assert.ok(byName.get("onnxruntime-node")?.ok);
  for (const c of checks) if (!c.ok) assert.ok(c.fix, `failed check ${c.name} names a fix`);
});

test("doctor - a missing interpreter is a failed check with a fix, not a crash", async () => {
  const saved = process.env.AZR_PYTHON;
  process.env.AZR_PYTHON = "/nonexistent/python3";
  try {
    const py = (await runDoctor()).find((c) => c.name === "python")!;
    assert.equal(py.ok, false);
    assert.match(py.fix!, /AZR_PYTHON/);
  } finally {
    if (saved === undefined) delete process.env.AZR_PYTHON;
    else process.env.AZR_PYTHON = saved;
  }
});

describe("doctor - with NATS_URL, the server a run would use", () => {
  const withJs = useNatsServer();
  const noJs = useNatsServer({ extraConfig: "jetstream: disabled" });
  const natsCheck = async (env: Record<string, string>) => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      return (await runDoctor()).find((c) => c.name === "nats")!;
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };

  it("is reached, its version and JetStream reported, and its sync setting read from /varz", async () => {
    const c = await natsCheck({ NATS_URL: withJs.url, NATS_MONITOR_URL: withJs.server.monitorUrl });
    assert.ok(c.ok, c.detail);
    assert.match(c.detail, new RegExp(`^NATS_URL=${withJs.url.replace(/[.]/g, "\\.")}: nats-server \\d+\\.\\d+\\.\\d+ with JetStream; `));
    // Debian's 2.9 has no sync_interval: its writes sync on a timer, and the fix says what to run
    if (!/sync_interval: always/.test(c.detail)) assert.match(c.fix!, /nats-server ≥ 2\.10\.23 with jetstream \{ sync_interval: always \}/);
  });

  it("a server without JetStream fails, naming the fix", async () => {
    const c = await natsCheck({ NATS_URL: noJs.url, NATS_MONITOR_URL: noJs.server.monitorUrl });
    assert.equal(c.ok, false);
    assert.match(c.detail, /runs without JetStream/);
    assert.match(c.fix!, /-js/);
  });

  it("an unreachable server fails, naming NATS_URL", async () => {
    const c = await natsCheck({ NATS_URL: "nats://127.0.0.1:1" });
    assert.equal(c.ok, false);
    assert.match(c.detail, /^NATS_URL=nats:\/\/127\.0\.0\.1:1: /);
    assert.match(c.fix!, /NATS_URL/);
  });
});
