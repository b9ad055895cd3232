/**
 * CPU cost per task of pooled validation, Node side and worker side apart: a figure that holds on
 * a busy machine, where tasks/s does not (issue 10's throughput goal is CPU per task in the end).
 * Node: process.cpuUsage() around validateProposals over the seed pairs. Workers: the CPU of
 * every Python under our bwrap sandboxes (/proc/<pid>/task/<pid>/children, two levels down) and
 * of its zygote (one more level), each with the time of the children it reaped (strict-mode and
 * zygote task children: utime+stime+cutime+cstime), polled every 20 ms with the highest figure
 * kept per pid, so a worker replaced mid-run counts up to its last poll (its reaped time never
 * reaches us: the sandbox's own init reaps it). The polling's own CPU is taken out of Node's figure.
 *
 *   node --import tsx bench/executor-cpu.ts [--limit N] [--workers N]
 */
import { readFileSync } from "node:fs";
import { CodeExecutor } from "../actors/code-executor/index.ts";
import { loadSeedPairs } from "./executor-seeds.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

const TICK_MS = 10; // USER_HZ

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Highest utime+stime+cutime+cstime seen per worker Python (bwrap → bwrap init → python) and per zygote (its child). */
const workerCpu = new Map<number, number>();
let pollUs = 0;
function poll(): void {
  const u0 = process.cpuUsage();
  for (const outer of children(process.pid)) {
    for (const init of children(outer)) {
      for (const py of children(init)) {
        for (const pid of [py, ...children(py)]) {
          try {
            const st = readFileSync(`/proc/${pid}/stat`, "utf8");
            const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
            // fields 14-17: utime, stime, cutime, cstime (the last two: children it reaped)
            const ms = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
            if (ms > (workerCpu.get(pid) ?? 0)) workerCpu.set(pid, ms);
          } catch { /* gone */ }
        }
      }
    }
  }
  const u = process.cpuUsage(u0);
  pollUs += u.user + u.system;
}
const sum = () => [...workerCpu.values()].reduce((a, b) => a + b, 0);

const all = loadSeedPairs();
const pairs = all.slice(0, arg("--limit", all.length));
const workers = arg("--workers", 2);
const tasks = pairs.map((p) => ({ type: "deduction" as const, program: p.program, input: p.input }));
const ex = await CodeExecutor.start({ workers });
await new Promise((r) => setTimeout(r, 300)); // every worker started
poll();
const before = sum();
const timer = setInterval(poll, 20);
const t0 = performance.now();
const u0 = process.cpuUsage();
const s = ex.validateProposals(tasks);
for await (const _ of s) { /* drain */ }
poll();
clearInterval(timer);
const u = process.cpuUsage(u0);
const wallMs = performance.now() - t0;
await ex.close();
const n = tasks.length;
console.log(JSON.stringify({
  tasks: n,
  nodeMsPerTask: +((u.user + u.system - pollUs) / 1000 / n).toFixed(4),
  workerMsPerTask: +((sum() - before) / n).toFixed(4),
  wallS: +(wallMs / 1000).toFixed(1),
  workersSeen: workerCpu.size,
  replaced: s.stats().workersReplaced,
}));
