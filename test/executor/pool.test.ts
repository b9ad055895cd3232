/**
 * Pool behaviour through the real sandbox: isolation is reported, a polluting task (builtins, a
 * class made by a metaclass) is re-run in strict mode and its worker replaced, verdicts do not depend on worker count or mode, the
 * hash seed is the same in every worker, executor and eval workers never share a uid, and a strict
 * run that loses its worker is retried `infraRetries` times.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { childProcesses } from "../helpers/processes.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { CodeExecutor, probeIsolation } from "../../actors/code-executor/index.ts";
import { EXECUTOR_UIDS, launchPlan, type UidRange } from "../../actors/code-executor/sandbox.ts";
import { EVAL_UIDS } from "../../actors/eval/worker-pool.ts";
import { triplet, useExecutor, validateAll } from "./helpers.ts";

const x = useExecutor({ limits: { timeoutMs: 3000, memoryMB: 512 } });

test("pool - probeIsolation reports bubblewrap, no network, per-worker uid and all limits", async () => {
  const r = await probeIsolation();
  assert.equal(r.level, "full", r.warnings.join("; "));
  assert.equal(r.network, "none");
  assert.ok(r.limits.memoryBytes && r.limits.cpu && r.limits.nproc);
  if (process.getuid?.() === 0) assert.equal(r.uid, "per-worker");
});

test("pool - a task that patches builtins is re-run in strict mode and its worker replaced", async () => {
  const before = x.ex.stats().workersReplaced["polluted: builtins"] ?? 0;
  const s = x.ex.validateProposals([triplet("import builtins\ndef f(a):\n    builtins.abs = lambda v: 7\n    return abs(-a)", "2")]);
  const vs = [];
  for await (const v of s) vs.push(v);
  assert.deepEqual(vs[0].outputs, ["7"]);
  assert.equal(s.stats().rerunStrict, 1);
  assert.equal((x.ex.stats().workersReplaced["polluted: builtins"] ?? 0) - before, 1);
  const [after] = await validateAll(x.ex, [triplet("def f(a):\n    return abs(a)", "-3")]);
  assert.deepEqual(after.outputs, ["3"]);
});

test("pool - a task that patches a class with its own metaclass (an ABC) is re-run in strict mode and its worker replaced", async () => {
  // Mapping's metaclass is ABCMeta, not type: the integrity check must cover such classes too,
  // or the patched method would serve every later task of that worker.
  const before = x.ex.stats().workersReplaced["polluted: modules"] ?? 0;
  const s = x.ex.validateProposals([triplet("import collections.abc\ndef f(a):\n    collections.abc.Mapping.get = lambda self, k, d=None: 7\n    return a", "2")]);
  const vs = [];
  for await (const v of s) vs.push(v);
  assert.deepEqual(vs[0].outputs, ["2"]);
  assert.equal(s.stats().rerunStrict, 1);
  assert.equal((x.ex.stats().workersReplaced["polluted: modules"] ?? 0) - before, 1);
});

test("pool - a strict run whose worker is killed runs again infraRetries times, then is an infrastructure failure", async () => {
  // ~0.7 s a call on the development machine, two calls (the determinism check)
  const slow = triplet("def f(a):\n    s = 0\n    for i in range(40_000_000):\n        s += i\n    return a", "4");
  for (const [infraRetries, want] of [[0, "infrastructure"], [1, "valid"]] as const) {
    const others = new Set(workerProcesses()); // the file's shared executor has workers too
    const ex = await CodeExecutor.start({ mode: "strict", workers: 1, infraRetries, limits: { timeoutMs: 20_000 }, warn: () => {} });
    try {
      const before = workerProcesses().filter((pid) => !others.has(pid));
      assert.equal(before.length, 1, "this executor's one worker process");
      const verdict = validateAll(ex, [slow]);
      await sleep(300); // the task's forked child is in its first call
      process.kill(before[0]!, "SIGKILL");
      const [v] = await verdict;
      assert.equal(v.reason, want, `infraRetries ${infraRetries}: ${JSON.stringify(v)}`);
    } finally {
      await ex.close();
    }
  }
});

const workerProcesses = () => childProcesses("worker.py");

test("pool - every worker has the same string-hash seed, so set order never depends on the worker", async () => {
  const p = triplet("def f(a):\n    return list({'apple', 'kiwi', 'fig', 'plum', 'pear', 'lime'})", "0");
  const vs = await validateAll(x.ex, Array.from({ length: 8 }, () => p));
  assert.equal(new Set(vs.map((v) => v.outputs?.[0])).size, 1);
});

test("pool - hashSeedCheck rejects outputs that depend on string-hash order", async () => {
  const ex = await CodeExecutor.start({ workers: 1, hashSeedCheck: true, limits: { timeoutMs: 3000 } });
  try {
    const vs = await validateAll(ex, [
      triplet("def f(a):\n    return list({'apple', 'kiwi', 'fig', 'plum', 'pear', 'lime'})", "0"),
      triplet("def f(a):\n    return {'apple', 'kiwi', 'fig', 'plum', 'pear', 'lime'}", "0"),
    ]);
    assert.equal(vs[0].reason, "hash-order dependent");
    assert.equal(vs[1].reason, "valid"); // a set is the same value whatever order it prints in
  } finally {
    await ex.close();
  }
});

test("pool - a large batch streams verdicts identical to the strict mode's, in any order", async () => {
  const programs = [
    "def f(a):\n    return sorted(a)[::-1]",
    "def f(a):\n    return {x: x * x for x in a}",
    "def f(a):\n    return sum(a) / len(a)",
    "def f(a):\n    return a[10]",
  ];
  const batch = Array.from({ length: 60 }, (_, i) => triplet(programs[i % 4], `[${i}, ${i + 1}, ${i % 7}]`));
  const strict = await CodeExecutor.start({ mode: "strict", workers: 2, limits: { timeoutMs: 3000 } });
  try {
    const [a, b] = await Promise.all([validateAll(x.ex, batch), validateAll(strict, batch)]);
    assert.deepEqual(a.map((v) => [v.reason, v.message, v.outputs]), b.map((v) => [v.reason, v.message, v.outputs]));
  } finally {
    await strict.close();
  }
});

test("pool - executor and eval workers draw uids from disjoint ranges (RLIMIT_NPROC counts per uid)", { skip: process.getuid?.() !== 0 && "per-worker uids only when run as root" }, () => {
  const inRange = (uid: number | undefined, r: UidRange) => uid !== undefined && uid >= r.first && uid < r.first + r.count;
  assert.ok(EVAL_UIDS.first >= EXECUTOR_UIDS.first + EXECUTOR_UIDS.count || EXECUTOR_UIDS.first >= EVAL_UIDS.first + EVAL_UIDS.count);
  for (let i = 0; i < 20; i++) {
    assert.ok(inRange(launchPlan({ hashSeed: 0, bubblewrap: true }).uid, EXECUTOR_UIDS));
    assert.ok(inRange(launchPlan({ hashSeed: 0, bubblewrap: true, uids: EVAL_UIDS }).uid, EVAL_UIDS));
  }
});
