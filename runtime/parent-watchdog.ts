/**
 * An actor process's guard against outliving its node agent. The agent going away closes the
 * IPC channel and actor-main shuts down on `disconnect`, but only if its event loop gets to
 * run: an actor in a long synchronous computation (or a shutdown stuck on a server that is
 * gone) would keep its CPU, memory and GPU as an orphan nobody supervises. So a worker thread,
 * which has its own event loop, watches the parent pid and SIGKILLs the whole process once the
 * parent has changed (the agent died; we were re-parented) and a grace period for the clean
 * shutdown has passed — the actor's whole process group (it leads one, see actor-process.ts),
 * so what it started dies with it. Not: the clean shutdown itself (actor-main.ts).
 */
import { Worker } from "node:worker_threads";

/** How often the worker looks at the parent pid. */
export const PARENT_CHECK_MS = 500;
/** Time for actor-main's own shutdown (drain the host, flush telemetry) before the hard kill. */
export const ORPHAN_GRACE_MS = 5000;

// Plain JavaScript run with `eval`: no tsx loader in the worker, so it starts in milliseconds.
const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { parent, everyMs, graceMs } = workerData;
const timer = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(timer);
  setTimeout(() => {
    // The group first (this process and whatever it started); ESRCH/EPERM: not a group leader.
    try { process.kill(-process.pid, "SIGKILL"); } catch { process.kill(process.pid, "SIGKILL"); }
  }, graceMs);
  try {
    // Usually unread (the agent held the other end of stderr), but a log kept elsewhere shows it.
    require("node:fs").writeSync(2, "azr: the node agent (pid " + parent + ") is gone: this actor process is killed in " + graceMs + " ms unless it has exited\\n");
  } catch {}
}, everyMs);
`;

/** Starts the watchdog for the current parent; it never keeps the process alive by itself. */
export function watchParent(o: { everyMs?: number; graceMs?: number } = {}): Worker {
  const w = new Worker(WATCHDOG, {
    eval: true,
    execArgv: [],
    workerData: { parent: process.ppid, everyMs: o.everyMs ?? PARENT_CHECK_MS, graceMs: o.graceMs ?? ORPHAN_GRACE_MS },
  });
  w.unref();
  return w;
}
