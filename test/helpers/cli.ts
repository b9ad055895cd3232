/**
 * Runs the `azr` command as a user would (a child process of cli/bin.ts under tsx, from the
 * repository root), with NATS_URL left out unless a test passes its own environment: a test names
 * its server.
 */
import { execFile, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

export const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "cli", "bin.ts");

/** The environment a command gets by default: this process's, without NATS_URL. */
export function cliEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NATS_URL;
  return env;
}

/**
 * `azr …` to completion, blocking. Past `timeoutMs` it gets SIGINT, so a regression that starts
 * real work (training, a run) ends through its own Ctrl-C path instead of hanging the suite.
 */
export function azrSync(args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ["--import", "tsx", BIN, ...args], { cwd: ROOT, env: o.env ?? cliEnv(), encoding: "utf8", timeout: o.timeoutMs ?? 60_000, killSignal: "SIGINT" });
}

/**
 * `azr …` without blocking this process's event loop (needed where the test itself hosts actors or
 * a node agent that must keep answering while the command runs): its exit code and output.
 */
export async function azrAsync(args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ["--import", "tsx", BIN, ...args], { cwd: ROOT, env: o.env ?? cliEnv(), timeout: o.timeoutMs ?? 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}
