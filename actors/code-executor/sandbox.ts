/**
 * The OS sandbox around every Python worker, and the probe that says what is really active.
 *
 * Covers: the bubblewrap command line (all namespaces unshared — so no network but an empty
 * loopback —, read-only binds of only what Python needs, a private tmpfs as scratch, a cleared
 * environment, every capability dropped, killed with its parent), a distinct unprivileged uid
 * per worker when we run as root (RLIMIT_NPROC does not bind root, and a shared uid would let
 * workers' process counts mix), and `probeIsolation()` for `azr doctor`. Not: the in-process
 * guard (audit hook, integrity check) — that is worker.py — nor the resource limits themselves,
 * which the worker sets and reports in its ready message.
 */
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPython, type PythonChoice } from "../../model/python.ts";

export const WORKER_DIR = dirname(fileURLToPath(import.meta.url));
const SANDBOX_DIR = "/azr";
const SANDBOX_SCRATCH = "/tmp/scratch";
/** uids [first, first + count) handed to sandboxed workers when we run as root. */
export interface UidRange { first: number; count: number }
/**
 * The executor's workers. Other users of launchPlan (the eval worker pool) pass a disjoint range:
 * RLIMIT_NPROC counts per uid, so a worker of theirs on one of our uids would eat our strict
 * child's process slot (and ours theirs), and the free-uid probe below cannot see a uid another
 * process has chosen but not yet started a process under.
 */
export const EXECUTOR_UIDS: UidRange = { first: 61000, count: 4000 };
/** The uid of the one-off start-up probe (bubblewrapUsable): outside every worker range. */
const PROBE_UID = 65000;
let uidCounter = 0;

export interface IsolationReport {
  /** "full": bubblewrap + per-worker uid + memory, CPU and process limits; else "partial". */
  level: "full" | "partial";
  bubblewrap: boolean;
  /** Own network namespace (only an empty loopback inside). */
  network: "none" | "host";
  filesystem: "read-only binds + private tmpfs" | "host filesystem";
  uid: "per-worker" | "shared";
  limits: { memoryBytes: number | null; cpu: boolean; nproc: number | null };
  python: PythonChoice;
  /** What is missing and how to fix it, one line each. */
  warnings: string[];
}

export class IsolationError extends Error {
  override name = "IsolationError";
}

/** How to start one worker process. */
export interface LaunchPlan {
  command: string;
  args: string[];
  uid?: number;
  gid?: number;
  /** Scratch directory as the worker sees it. */
  scratch: string;
  env: Record<string, string>;
  sandboxed: boolean;
}

export interface SandboxOptions {
  python?: PythonChoice;
  hashSeed: number;
  /** false: run Python without bubblewrap (only when bubblewrap cannot work here). */
  bubblewrap: boolean;
  /** Where the worker's uid comes from when we run as root (default EXECUTOR_UIDS). */
  uids?: UidRange;
}

function workerEnv(hashSeed: number, home: string): Record<string, string> {
  return {
    PYTHONHASHSEED: String(hashSeed),
    PATH: "/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: home,
    PYTHONDONTWRITEBYTECODE: "1",
    OPENBLAS_NUM_THREADS: "1",
    OMP_NUM_THREADS: "1",
    MKL_NUM_THREADS: "1",
  };
}

/** Host paths the interpreter needs, bound read-only (symlinked top-level dirs stay symlinks). */
function pythonBinds(python: string): string[] {
  const args: string[] = ["--ro-bind", "/usr", "/usr"];
  for (const top of ["/lib", "/lib64", "/bin", "/sbin"]) {
    if (!existsSync(top)) continue;
    const st = lstatSync(top);
    if (st.isSymbolicLink()) args.push("--symlink", realpathSync(top).replace(/^\//, ""), top);
    else args.push("--ro-bind", top, top);
  }
  const real = realpathSync(python);
  if (!real.startsWith("/usr/")) {
    const prefix = dirname(dirname(real)); // e.g. /opt/python3.11 for /opt/python3.11/bin/python3
    args.push("--ro-bind", prefix, prefix);
  }
  return args;
}

export function bubblewrapArgs(python: string, env: Record<string, string>): string[] {
  const args = [
    "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
    ...pythonBinds(python),
    // Debian resolves libblas/liblapack (numpy) through /etc/alternatives; nothing else of /etc.
    "--ro-bind-try", "/etc/alternatives", "/etc/alternatives", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
    "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SANDBOX_SCRATCH,
    "--ro-bind", WORKER_DIR, SANDBOX_DIR,
    "--chdir", SANDBOX_SCRATCH, "--clearenv",
  ];
  for (const [k, v] of Object.entries(env)) args.push("--setenv", k, v);
  return [...args, "--", python, "-s", "-B", `${SANDBOX_DIR}/worker.py`];
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** uids that own a process right now (from /proc). */
function uidsInUse(): Set<number> {
  const used = new Set<number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      used.add(statSync(`/proc/${name}`).uid);
    } catch {
      /* the process is gone */
    }
  }
  return used;
}

/**
 * A uid no process uses now, different for every spawn of every executor on this host (the start
 * point depends on our pid): RLIMIT_NPROC counts per uid, so two workers must never share one.
 */
function freeUid(range: UidRange): number {
  const used = uidsInUse();
  const start = (process.pid * 97 + uidCounter++) % range.count;
  for (let i = 0; i < range.count; i++) {
    const uid = range.first + ((start + i) % range.count);
    if (!used.has(uid) && !recentUids.has(uid)) {
      recentUids.add(uid);
      if (recentUids.size > 256) recentUids.delete(recentUids.values().next().value!);
      return uid;
    }
  }
  throw new Error(`no free uid in ${range.first}..${range.first + range.count - 1} for a worker: too many sandboxed workers on this host`);
}
/** Handed out lately by this process (a just-spawned worker may not own a process yet). */
const recentUids = new Set<number>();

let bwrapPath: string | undefined;
/** Absolute path of bwrap (workers are spawned with an empty environment, so no PATH lookup). */
function findBwrap(): string | undefined {
  if (bwrapPath) return bwrapPath;
  const r = spawnSync("sh", ["-c", "command -v bwrap"], { encoding: "utf8" });
  if (r.status === 0 && r.stdout.trim()) bwrapPath = r.stdout.trim();
  return bwrapPath;
}

export function launchPlan(opts: SandboxOptions): LaunchPlan {
  const python = (opts.python ?? findPython()).path;
  if (opts.bubblewrap) {
    const env = workerEnv(opts.hashSeed, SANDBOX_SCRATCH);
    if (process.env.AZR_WORKER_STDERR) env.AZR_WORKER_STDERR = "1"; // debugging aid, see worker.py
    const bwrap = findBwrap();
    if (!bwrap) throw new Error("bubblewrap (bwrap) is not installed: apt-get install bubblewrap");
    const plan: LaunchPlan = { command: bwrap, args: bubblewrapArgs(python, env), scratch: SANDBOX_SCRATCH, env: {}, sandboxed: true };
    if (isRoot()) {
      const uid = freeUid(opts.uids ?? EXECUTOR_UIDS);
      plan.uid = uid;
      plan.gid = uid;
    }
    return plan;
  }
  const scratch = mkdtempSync(join(tmpdir(), "azr-scratch-"));
  return { command: python, args: ["-s", "-B", join(WORKER_DIR, "worker.py")], scratch, env: workerEnv(opts.hashSeed, scratch), sandboxed: false };
}

/** Whether bubblewrap can start a sandbox here; if not, the reason and the fix. */
export function bubblewrapUsable(python: string): { ok: true } | { ok: false; why: string } {
  const bwrap = findBwrap();
  if (!bwrap) return { ok: false, why: "bubblewrap is not installed (apt-get install bubblewrap)" };
  const env = workerEnv(0, SANDBOX_SCRATCH);
  const args = bubblewrapArgs(python, env).slice(0, -5); // drop "-- python -s -B worker.py"
  const uid = isRoot() ? PROBE_UID : undefined;
  const r = spawnSync(bwrap, [...args, "--", python, "-c", "pass"], { encoding: "utf8", timeout: 10_000, uid, gid: uid });
  if (r.status === 0) return { ok: true };
  const err = (r.stderr || r.error?.message || "").trim();
  if (/uid map|user namespace|Operation not permitted/i.test(err)) {
    return { ok: false, why: `bubblewrap cannot create a user namespace here (${err}); enable unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or user.max_user_namespaces>0, or allow them in the container runtime` };
  }
  return { ok: false, why: `bubblewrap failed (${err || `exit ${r.status}`})` };
}

export function describeIsolation(r: IsolationReport): string {
  const lim = `memory ${r.limits.memoryBytes ? `${Math.round(r.limits.memoryBytes / 2 ** 20)} MB` : "UNLIMITED"}, CPU ${r.limits.cpu ? "limited" : "UNLIMITED"}, processes ${r.limits.nproc ?? "UNLIMITED"}`;
  return `executor isolation: ${r.level} — ${r.bubblewrap ? "bubblewrap" : "NO bubblewrap"}, network ${r.network}, filesystem ${r.filesystem}, uid ${r.uid}, ${lim}; python ${r.python.path} (${r.python.reason})`;
}
