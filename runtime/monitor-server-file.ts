/**
 * `<runDir>/nats.json`: where a run's embedded nats-server listens (client URL, monitoring URL,
 * pid), so that `azr top`, `azr attach`, `azr logs` … started in another terminal find the live
 * run without NATS_URL. Covers: writing it when the server starts, removing it when it stops,
 * reading it back (a file whose server process is gone counts as absent). Not: servers the
 * user runs (NATS_URL), which the CLI reaches through the environment.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "./process-alive.ts";

export interface ServerFile {
  url: string;
  monitorUrl: string;
  pid: number;
}

export function serverFilePath(runDir: string): string {
  return join(runDir, "nats.json");
}

export function writeServerFile(runDir: string, s: ServerFile): void {
  writeFileSync(serverFilePath(runDir), JSON.stringify(s) + "\n");
}

/** Removes the file if it still describes the server `pid` (another run may have replaced it). */
export function removeServerFile(runDir: string, pid: number): void {
  const cur = readServerFileRaw(runDir);
  if (cur?.pid === pid) rmSync(serverFilePath(runDir), { force: true });
}

function readServerFileRaw(runDir: string): ServerFile | undefined {
  try {
    const v = JSON.parse(readFileSync(serverFilePath(runDir), "utf8")) as Partial<ServerFile>;
    return typeof v.url === "string" && typeof v.pid === "number" ? { url: v.url, monitorUrl: v.monitorUrl ?? "", pid: v.pid } : undefined;
  } catch {
    return undefined;
  }
}

/** The run's embedded server, if the file exists and its process still runs. */
export function readServerFile(runDir: string): ServerFile | undefined {
  const s = readServerFileRaw(runDir);
  return s && processAlive(s.pid) ? s : undefined;
}
