/**
 * `azr trace` on trace files that are not what a clean run leaves: malformed records (a foreign
 * writer, a hand edit, a torn last line) and the spans of a step that never ended. Each is said
 * in the report; none ends in a TypeError or NaN. No server needed: the file is the input.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NoTraceError, traceReport, type TraceArgs } from "../../cli/commands/trace.ts";
import { readSpans } from "../../runtime/telemetry-collector.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function runWith(lines: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), "azr-trace-data-"));
  dirs.push(dir);
  mkdirSync(join(dir, "traces"));
  writeFileSync(join(dir, "traces", "spans.jsonl"), lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return dir;
}

const args = (runDir: string, step?: number): TraceArgs => ({ "run-dir": runDir, cluster: "default", json: false, all: false, step });

const root = { trace: "a".repeat(32), span: "r1", name: "selfplay.step", service: "azr-driver", kind: "internal", start: 1_000, ms: 40, attrs: { "azr.step": 3 } };
const child = { trace: "a".repeat(32), span: "c1", parent: "r1", name: "learner.update", service: "azr-actor-learner", kind: "server", start: 1_010, ms: 20, attrs: {} };
const malformed = [
  { trace: "b".repeat(32), span: "m1", name: "x", service: "s", kind: "server", start: 1_000, ms: 1 }, // no attrs
  { ...child, span: "m2", start: "soon" }, // a time that is not a number
  { ...root, span: "m3", attrs: null },
  null,
  [1, 2],
  '{"trace":"cut sho', // torn by a kill
];
// A step whose driver was killed mid-step: its children were published, its root never ended.
const orphan = { trace: "c".repeat(32), span: "o1", parent: "never-ended", name: "rollout.solve", service: "azr-actor-rollout", kind: "server", start: 2_000, ms: 5, attrs: {} };

test("trace data - malformed records are skipped and counted, never a TypeError; the step list and tree still print", () => {
  const dir = runWith([root, ...malformed, child, orphan]);
  assert.deepEqual(readSpans(dir).map((s) => s.span), ["r1", "c1", "o1"]);
  const list = traceReport(args(dir));
  assert.match(list, /6 line\(s\) of .*spans\.jsonl are not span records \(cut short or malformed\) and were skipped/);
  assert.match(list, /1 trace\(s\) have spans but no step root: a step that did not end/);
  assert.match(list, /^\s+3\s+1970-01-01T00:00:01\.000Z\s+0\.04\s+2\s+2\s+0$/m);
  const tree = traceReport(args(dir, 3));
  assert.match(tree, /step 3 {2}trace a{32} {2}2 spans in 2 processes/);
  assert.match(tree, /└─ learner\.update \(server\)\s+azr-actor-learner/);
  assert.doesNotMatch(tree, /NaN|undefined/);
});

test("trace data - a file with no whole step says what it does hold", () => {
  const dir = runWith([...malformed, orphan]);
  assert.throws(
    () => traceReport(args(dir)),
    (e: Error) => e instanceof NoTraceError && /no step traces in .*spans\.jsonl \(6 line\(s\) .* skipped; 1 trace\(s\) have spans but no step root/.test(e.message),
  );
  const withStep = runWith([root, child, orphan]);
  assert.throws(
    () => traceReport(args(withStep, 9)),
    (e: Error) => e instanceof NoTraceError && /step 9 has no recorded trace .*recorded: steps 3–3.*1 trace\(s\) have spans but no step root/.test(e.message),
  );
});
