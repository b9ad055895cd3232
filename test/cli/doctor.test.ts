import { test } from "node:test";
import assert from "node:assert/strict";
import { runDoctor } from "../../cli/commands/doctor.ts";

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
