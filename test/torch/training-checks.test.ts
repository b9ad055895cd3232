// Python-side checks of the learner step (test/torch/py/training_checks.py): microbatch-token-mean
// with an all-empty micro-batch, seq-mean with one, the chunked lm_head, causal attention without a
// mask on right-padded rows, and AdamW's kernel flags across a training-state resume (torch >= 2.0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";
import { makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-training-checks-");

test("training checks (python)", () => {
  const dir = makeModelDir(join(tmp, "m"), "qwen2", 1);
  const out = execFileSync(findPython().path, [fileURLToPath(new URL("py/training_checks.py", import.meta.url)), dir], {
    env: { ...process.env, PYTHONPATH: fileURLToPath(new URL("../../model/torch", import.meta.url)) }, encoding: "utf8",
  });
  const checks = out.trim().split("\n").map((l) => JSON.parse(l) as { check: string; ok: boolean | null; detail: unknown });
  assert.equal(checks.length, 5);
  for (const c of checks) if (c.ok !== null) assert.ok(c.ok, `${c.check}: ${JSON.stringify(c.detail)}`);
});
