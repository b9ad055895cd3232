/**
 * heldout-breakdown.ts: per-template changes of the tiny held-out results; a run whose records
 * file lacks tasks the base has (an unfinished `azr eval`) is refused, not scored as wrong answers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const script = "actors/base-model/heldout-breakdown.ts";

test("heldout-breakdown: each run's change per template; a run missing tasks is refused by name", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-breakdown-"));
  try {
    const programs = [{ id: "1:0", level: 0, template: "expression" }, { id: "2:0", level: 1, template: "ternary" }];
    writeFileSync(join(dir, "programs.jsonl"), programs.map((p) => JSON.stringify(p)).join("\n") + "\n");
    const records = (correct: boolean[]) => correct.map((c, i) => JSON.stringify({ benchmark: "tiny", id: `${programs[i % 2]!.id}/deduction/${i}`, correct: c, response: "" })).join("\n") + "\n";
    writeFileSync(join(dir, "base.jsonl"), records([false, false, true, false]));
    writeFileSync(join(dir, "run.jsonl"), records([true, false, true, true]));
    writeFileSync(join(dir, "partial.jsonl"), records([true, false]));
    const run = (...files: string[]) => spawnSync(process.execPath, ["--import", "tsx", script, "--heldout", join(dir, "programs.jsonl"), ...files.map((f) => join(dir, f))], { encoding: "utf8" });
    const ok = run("base.jsonl", "run.jsonl");
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /expression\s+2\s+50\.0\s+\+50\.0/);
    assert.match(ok.stdout, /ternary\s+2\s+0\.0\s+\+50\.0/);
    const partial = run("base.jsonl", "partial.jsonl");
    assert.notEqual(partial.status, 0, partial.stdout);
    assert.match(partial.stderr, /partial\.jsonl: no record of 2 of the base's 4 deduction tasks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
