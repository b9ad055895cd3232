/**
 * The process limit a worker sets at start-up (azr_worker/guard.py set_limits), in the real
 * sandbox and uid: it counts the uid's processes and must leave room for exactly the strict
 * child, at once. A probe that still counted after set_limits returned (a thread that had ended
 * but was not yet released by the kernel) made the first strict fork fail with EAGAIN, by
 * chance, most often on a busy machine: pool.test.ts's retried strict run then ended as an
 * "infrastructure" failure.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { launchPlan } from "../../actors/code-executor/sandbox.ts";

// The fork follows set_limits at once, with the soft limit opened as strict.py opens it (no zygote).
const PY = String.raw`
import os, resource, sys
sys.path.insert(0, "/azr")
from azr_worker.guard import set_limits
limits, _ = set_limits(512 << 20)
if "nproc" in limits:
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"] - 2, limits["nproc"]))
try:
    pid = os.fork()
except BlockingIOError:
    os.write(1, b"EAGAIN")
    os._exit(0)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
os.write(1, b"ok" if "nproc" in limits else b"not enforced")
`;

test("set_limits - a fork right after it, with one process more allowed, succeeds (the probe no longer counts)", () => {
  const got: string[] = [];
  for (let i = 0; i < 20; i++) {
    const plan = launchPlan({ hashSeed: 0, bubblewrap: true }); // a fresh uid each time when root
    const args = [...plan.args.slice(0, -3), "-s", "-B", "-c", PY]; // the worker's sandbox, this script for worker.py
    got.push(execFileSync(plan.command, args, { uid: plan.uid, gid: plan.gid, timeout: 20_000 }).toString());
  }
  assert.deepEqual(got.filter((g) => g === "EAGAIN"), [], `fork results: ${got.join(", ")}`);
  if (process.getuid?.() === 0) assert.deepEqual(new Set(got), new Set(["ok"]), "a per-worker uid: the limit is enforced");
});
