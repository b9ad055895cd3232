/**
 * Malformed frames from the host get an error reply and leave the engine worker serving: a body
 * that is not msgpack, a request without a method or id, a message that is not a map, args that
 * are not a map (a real worker process, driven with raw frames).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { encodeFrame, FrameReader } from "../../model/torch/frames.ts";
import { findPython } from "../../model/python.ts";
import { PYTHON_PACKAGE_ROOT } from "../../model/torch/worker-client.ts";

type Reply = { id: number | null; ok?: unknown; error?: { type: string; message: string } };

test("worker frames - malformed requests are answered with errors and the worker keeps serving", { timeout: 60_000 }, async () => {
  const child = spawn(findPython().path, ["-m", "azr_torch.worker"], {
    env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE_ROOT, PYTHONDONTWRITEBYTECODE: "1" }, stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => { stderr += c.toString(); });
  const replies: Reply[] = [];
  let wake = () => {};
  const reader = new FrameReader();
  child.stdout.on("data", (c: Buffer) => { for (const m of reader.push(c)) replies.push(m as Reply); wake(); });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => { wake(); r(code); }));
  let alive = true;
  void exited.then(() => { alive = false; });
  const next = async (): Promise<Reply> => {
    const deadline = Date.now() + 20_000;
    while (!replies.length) {
      assert.ok(alive, `the worker exited; stderr:\n${stderr}`);
      assert.ok(Date.now() < deadline, `no reply within 20 s (worker hung); stderr:\n${stderr}`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
    return replies.shift()!;
  };
  try {
    child.stdin.write(Uint8Array.from([0, 0, 0, 1, 0xc1])); // 0xc1: never used in msgpack
    let r = await next();
    assert.equal(r.id, null);
    assert.match(r.error!.message, /unreadable frame/);
    for (const [msg, id] of [[{ id: 7 }, 7], [{ method: "info" }, null], [42, null], [{ id: 8, method: "info", args: [1] }, 8]] as const) {
      child.stdin.write(encodeFrame(msg));
      r = await next();
      assert.equal(r.id, id, JSON.stringify(msg));
      assert.ok(r.error, JSON.stringify(r));
    }
    // still serving: a well-formed call gets its own answer (no model loaded yet)
    child.stdin.write(encodeFrame({ id: 9, method: "info", args: {} }));
    r = await next();
    assert.equal(r.id, 9);
    assert.match(r.error!.message, /info called before init/);
  } finally {
    child.stdin.end();
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000); // a hung worker must not keep the test alive
    await exited;
    clearTimeout(kill);
  }
});
