/**
 * Owner watchdog: stops a child process (the embedded nats-server) once the process that started
 * it is gone — the case no exit hook covers (SIGKILL, the OOM killer, a CI timeout). The server
 * runs in its own process group on purpose (see nats-server.ts), so it does not die with us; this
 * tiny `/bin/sh` loop (a few hundred KB, not a second Node) does it instead.
 *
 * Linux-only: liveness and identity come from /proc/<pid>/stat (state, and start time, field 22,
 * against pid reuse). Without a readable /proc/self/stat, or without /bin/sh, there is no guard
 * (startOwnerWatchdog returns undefined) and nothing fails. prctl(PR_SET_PDEATHSIG) is not used:
 * it has no effect in some sandboxes (ours among them).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface OwnerWatchdogOptions {
  /** How often the watchdog looks at the owner and the server, in ms. Default 1000. */
  pollMs?: number;
  /** After SIGTERM to the server, how long before SIGKILL, in ms. Default 5000. */
  graceMs?: number;
}

export const DEFAULT_WATCHDOG_POLL_MS = 1000;
export const DEFAULT_WATCHDOG_GRACE_MS = 5000;

/** Start time (clock ticks since boot, /proc/<pid>/stat field 22) of a live process; undefined if none or no /proc. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name in (…) may hold spaces and parentheses: fields restart after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") return undefined; // exited, not yet reaped
    const start = rest[19]; // field 22; rest[0] is field 3
    return start && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/*
 * Arguments: owner pid, owner start time, server pid, server start time, poll s, grace s.
 * A process "is" the one we mean while /proc/<pid>/stat exists, it is not a zombie (state Z/X:
 * the owner killed but not yet reaped by its parent; the server reparented to a pid 1 that may
 * never reap it) and its start time is unchanged (not a reused pid).
 * - server gone first (normal stop, or it crashed): exit;
 * - owner gone: SIGTERM the server (JetStream flushes), wait up to grace, SIGKILL, exit.
 * Signals to the server are sent only after checking it is still the same process.
 */
const SCRIPT = `
trap '' INT HUP QUIT
set -f
is() {
  w=$2
  read -r line 2>/dev/null < /proc/$1/stat || return 1
  set -- \${line##*) }
  [ $# -ge 20 ] || return 1
  case $1 in Z|X) return 1;; esac
  shift 19
  [ "$1" = "$w" ]
}
owner() { is "$1" "$2"; }
server() { is "$3" "$4"; }
while owner "$@"; do
  server "$@" || exit 0
  sleep "$5"
done
server "$@" || exit 0
kill -TERM "$3" 2>/dev/null
left=$6
while server "$@"; do
  if [ "$left" -le 0 ]; then
    server "$@" && kill -KILL "$3" 2>/dev/null
    exit 0
  fi
  sleep "$5"
  left=$((left - $7))
done
`;

/**
 * Starts the watchdog for `serverPid` on behalf of this process. Returns its pid and a stop
 * function (does not wait), or undefined when there is no /proc (no guard).
 */
export function startOwnerWatchdog(
  serverPid: number,
  opts: OwnerWatchdogOptions = {},
): { pid: number; stop(): void } | undefined {
  const ownerStart = procStartTime(process.pid);
  const serverStart = procStartTime(serverPid);
  if (ownerStart === undefined || serverStart === undefined) return undefined;
  const pollMs = Math.max(10, Math.round(opts.pollMs ?? DEFAULT_WATCHDOG_POLL_MS));
  const graceMs = Math.max(0, Math.round(opts.graceMs ?? DEFAULT_WATCHDOG_GRACE_MS));
  const pollS = (pollMs / 1000).toFixed(3);
  let child;
  try {
    child = spawn(
      "/bin/sh",
      ["-c", SCRIPT, "azr-nats-watchdog", String(process.pid), ownerStart, String(serverPid), serverStart, pollS, String(graceMs), String(pollMs)],
      // Its own session and group: nothing aimed at our group (a terminal's Ctrl-C, a kill of
      // the group) reaches it; no stdio, so it holds none of our pipes open.
      { detached: true, stdio: "ignore" },
    );
  } catch {
    return undefined;
  }
  child.on("error", () => {}); // no /bin/sh: no guard, no crash
  child.unref();
  if (child.pid === undefined) return undefined;
  let stopped = false;
  child.once("exit", () => (stopped = true));
  return {
    pid: child.pid,
    stop() {
      if (!stopped) {
        // Its whole group (it leads one): the shell and the `sleep` it is waiting on, which would
        // otherwise linger up to a poll interval after the shell has gone.
        try {
          process.kill(-child.pid!, "SIGTERM");
        } catch {
          child.kill("SIGTERM");
        }
      }
      stopped = true;
    },
  };
}
