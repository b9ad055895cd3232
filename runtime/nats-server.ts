/**
 * Embedded nats-server launcher. Covers: finding the binary, starting `nats-server -js` on a
 * free loopback port (client and monitoring) with its store in a given folder, reading the
 * ports back from the server's own ports file (no port race), stopping it. Not: clustering —
 * with NATS_URL set, users bring their own servers.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startOwnerWatchdog, type OwnerWatchdogOptions } from "./owner-watchdog.ts";

export class NatsServerMissingError extends Error {
  override name = "NatsServerMissingError";
  constructor(binary: string) {
    super(
      `nats-server not found (looked for '${binary}'): run \`make setup\` (installs Debian's nats-server), ` +
        `or set NATS_URL to use an existing server, or AZR_NATS_SERVER to the binary's path`,
    );
  }
}

/** Servers this process started and has not seen exit: stopped when it exits (see below). */
const liveServers = new Set<ChildProcess>();
// In their own process group they no longer die with us on a terminal's signals: a command that
// exits without stop() (process.exit, a second Ctrl-C) must not leave its server running.
process.once("exit", () => {
  for (const c of liveServers) c.kill("SIGTERM");
});

export interface NatsServerOptions {
  /** JetStream store; a fresh temp dir when omitted (removed on stop). */
  storeDir?: string;
  /** Binary to run; default `AZR_NATS_SERVER` or `nats-server` on PATH. */
  binary?: string;
  /** Client port on 127.0.0.1; a free one when omitted (a restart on the same port keeps clients' URLs valid). */
  port?: number;
  /** Max payload in bytes; the server default (1 MiB) when omitted. */
  maxPayload?: number;
  /** Extra config lines appended to the generated config file. */
  extraConfig?: string;
  /** Authorization for the embedded server (clients must present these). */
  auth?: { user: string; pass: string } | { token: string };
  /** Start-up deadline in ms. */
  startTimeoutMs?: number;
  /**
   * The guard that stops the server once this process is gone without stopping it (SIGKILL, the
   * OOM killer): a small watchdog process, see owner-watchdog.ts. Its poll interval (default 1 s)
   * and SIGTERM→SIGKILL grace (default 5 s); `false`: none. Linux (/proc) only; elsewhere none.
   */
  watchdog?: OwnerWatchdogOptions | false;
}

export interface NatsServerHandle {
  url: string;
  monitorUrl: string;
  pid: number;
  storeDir: string;
  version: string;
  /** Pid of the owner watchdog (see NatsServerOptions.watchdog); undefined when none runs. */
  watchdogPid?: number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;

export function natsServerBinary(explicit?: string): string {
  return explicit ?? process.env.AZR_NATS_SERVER ?? "nats-server";
}

/** `nats-server --version` → "2.9.10"; throws NatsServerMissingError when absent. */
export function natsServerVersion(binary = natsServerBinary()): string {
  try {
    const out = execFileSync(binary, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const m = /v?(\d+\.\d+\.\d+)/.exec(out);
    return m ? m[1] : out.trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NatsServerMissingError(binary);
    throw e;
  }
}

/** "2.10.3" ≥ (2, 10)? */
export function versionAtLeast(v: string, major: number, minor: number, patch = 0): boolean {
  const [a, b, c = 0] = v.replace(/^v/, "").split(/[.-]/).map(Number);
  return a > major || (a === major && (b > minor || (b === minor && c >= patch)));
}

/** Starts `nats-server -js` on loopback with monitoring; resolves once it accepts clients. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = natsServerBinary(opts.binary);
  const version = natsServerVersion(binary);
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), "azr-nats-"));
  mkdirSync(storeDir, { recursive: true });
  const portsDir = mkdtempSync(join(tmpdir(), "azr-nats-ports-"));

  const lines = [
    `listen: "127.0.0.1:${opts.port ?? -1}"`,
    `http: "127.0.0.1:-1"`,
    `jetstream: {`,
    `  store_dir: ${JSON.stringify(storeDir)}`,
    // Acked writes survive an OS crash only with fsync on every write; 2.9 lacks the option.
    versionAtLeast(version, 2, 10) ? `  sync_interval: always` : ``,
    `}`,
    opts.maxPayload ? `max_payload: ${opts.maxPayload}` : ``,
  ];
  if (opts.auth && "user" in opts.auth) {
    lines.push(`authorization: { user: ${JSON.stringify(opts.auth.user)}, password: ${JSON.stringify(opts.auth.pass)} }`);
  } else if (opts.auth) {
    lines.push(`authorization: { token: ${JSON.stringify(opts.auth.token)} }`);
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  const configFile = join(portsDir, "nats.conf");
  writeFileSync(configFile, lines.filter(Boolean).join("\n") + "\n");

  const child: ChildProcess = spawn(binary, ["-c", configFile, "--ports_file_dir", portsDir], {
    stdio: ["ignore", "ignore", "pipe"],
    // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and a
    // server that exits on that SIGINT takes the registry away from the command (`azr
    // selfplay`) that is stopping its actors and saving a checkpoint — it hung on timeouts.
    // The command stops the server itself (stop(), or the exit hook below).
    detached: true,
  });
  liveServers.add(child);
  child.once("exit", () => liveServers.delete(child));
  // The exit hook above does not run when this process is SIGKILLed: a watchdog then stops the
  // server (started now, so that a kill during start-up is covered too).
  const watchdog = child.pid !== undefined && opts.watchdog !== false ? startOwnerWatchdog(child.pid, opts.watchdog) : undefined;
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const deadline = Date.now() + (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  let ports: { nats?: string[]; monitoring?: string[] } | undefined;
  while (Date.now() < deadline && !hasExited) {
    const file = readdirSync(portsDir).find((f) => f.endsWith(".ports"));
    if (file) {
      try {
        ports = JSON.parse(readFileSync(join(portsDir, file), "utf8"));
        if (ports?.nats?.length) break;
      } catch {
        /* file being written: retry */
      }
    }
    await sleep(20);
  }
  if (!ports?.nats?.length) {
    child.kill("SIGKILL");
    watchdog?.stop();
    rmSync(portsDir, { recursive: true, force: true });
    throw new Error(`nats-server did not start within the deadline (exited: ${hasExited}). Its stderr:\n${stderr}`);
  }
  const url = ports.nats[0];
  const monitorUrl = ports.monitoring?.[0] ?? "";

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (!hasExited) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      // It would exit by itself within a poll of the server's exit; no need to wait for that.
      watchdog?.stop();
      rmSync(portsDir, { recursive: true, force: true });
      if (ownsStore && existsSync(storeDir)) rmSync(storeDir, { recursive: true, force: true });
    })());
  return {
    url,
    monitorUrl,
    pid: child.pid!,
    storeDir,
    version,
    watchdogPid: watchdog?.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
