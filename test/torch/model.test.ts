/**
 * The torch engine's model code checked from Python (test/torch/py/checks.py): logits vs an
 * independent NumPy reference per architecture (Qwen2, Llama 3 with llama3 RoPE, Qwen3), sharded and
 * bf16 checkpoints, transformers parity where importable, KV-cache decode vs full recompute,
 * checkpoint and LoRA round trips. One subtest per check.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";
import { PYTHON_PACKAGE_ROOT } from "../../model/torch/worker-client.ts";

const script = fileURLToPath(new URL("./py/checks.py", import.meta.url));

test("torch model checks (Python side)", async (t) => {
  const run = spawnSync(findPython().path, [script], {
    env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE_ROOT, AZR_TEST_THREADS: "1", PYTHONDONTWRITEBYTECODE: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(run.status, 0, `checks.py failed to run:\n${run.stderr}`);
  const results = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; ok: boolean | null; detail: Record<string, unknown> });
  assert.ok(results.length >= 10, `expected every check to report, got ${results.length}`);
  for (const r of results) {
    await t.test(r.name, (st) => {
      if (r.ok === null) return st.skip(String(r.detail.skipped));
      assert.equal(r.ok, true, JSON.stringify(r.detail, null, 1));
    });
  }
});
