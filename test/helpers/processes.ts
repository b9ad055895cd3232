/** Processes of the test itself, read from /proc (Linux): which children a test left behind or may kill. */
import { readdirSync, readFileSync } from "node:fs";

/** Pids of this process's children (live or not yet reaped) whose command line contains `match`. */
export function childProcesses(match: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]); // the name in (…) may hold spaces
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes(match)) out.push(Number(d));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Whether `pid` still runs; a zombie (exited, not yet reaped: pid 1 here reaps none) counts as gone. */
export function processRunning(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
