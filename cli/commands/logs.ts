/**
 * `azr logs <actor> [-f] [--since 10m] [--tail N]`: an actor's stdout/stderr, across restarts.
 * Past lines come from the run folder's `logs/<actor>.log` (the node agent appends every
 * incarnation's output there, each line with its time), live ones from the actor's logs
 * subject. With -f the subject is subscribed before the file is read, and lines already printed
 * from the file are skipped, so nothing falls in the gap or shows twice. Not: logs of actors on
 * another machine's run folder (their live lines still arrive with -f).
 */
import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import type { Cluster, LogLine } from "../../runtime/index.ts";
import { parseSince } from "./ops-format.ts";
import { runDirOf, watchConnection, withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export interface LogsOptions {
  /** Needed to follow live lines (-f); past lines come from the run folder alone. */
  cluster?: Cluster;
  runDir: string;
  actor: string;
  follow: boolean;
  /** Epoch ms: only lines at or after it. */
  since?: number;
  /** Only the last N past lines. */
  tail?: number;
  /** A promise holds back the next line until it resolves: a slow reader slows the follow, whose queue is bounded (followLogs). */
  write: (line: string) => unknown;
  /** Said once to the user (stderr), not part of the log: following an actor nobody knows yet. */
  notice?: (line: string) => void;
  /** Ends following. */
  signal?: AbortSignal;
}

interface FileLine {
  at: number;
  text: string;
  raw: string;
}

const FILE_LINE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (.*)$/;

export function logFile(runDir: string, actor: string): string {
  return join(runDir, "logs", `${actor}.log`);
}

function parseFileLine(raw: string): FileLine {
  const m = FILE_LINE.exec(raw);
  // Lines written before log times existed have none: keep them, as the oldest.
  return m ? { at: Date.parse(m[1]), text: m[2], raw } : { at: 0, text: raw, raw };
}

/**
 * The file's lines, read a chunk at a time as they are taken: a long run's log grows for the
 * whole run (gigabytes), and reading it whole held all of it, and an object per line, before the
 * first line was printed. The writer cuts lines at MAX_LINE_CHARS, so `rest` stays small.
 */
async function* readFileLines(file: string): AsyncGenerator<FileLine> {
  if (!existsSync(file)) return;
  let rest = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8" }) as AsyncIterable<string>) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const raw of parts) if (raw) yield parseFileLine(raw);
  }
  if (rest) yield parseFileLine(rest);
}

/** The last `n` of `lines`, holding no more than `n` at a time. */
async function lastLines<T>(lines: AsyncIterable<T>, n: number): Promise<T[]> {
  if (n === 0) return [];
  const ring: T[] = [];
  let next = 0;
  for await (const l of lines) {
    if (ring.length < n) ring.push(l);
    else ring[next] = l;
    next = (next + 1) % n;
  }
  return ring.length < n ? ring : [...ring.slice(next), ...ring.slice(0, next)];
}

/**
 * Writes a line to `out` (stdout); when its buffer is full, resolves only once it has drained
 * (or closed), so a slow reader (`azr logs -f | slow`) holds lines in followLogs' bounded queue
 * rather than in the stream's, which has none.
 */
export function writeLine(out: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean }, line: string): Promise<void> | undefined {
  if (out.write(line + "\n") || out.destroyed) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      out.off("error", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    out.on("error", done);
  });
}

function formatLive(l: LogLine): string {
  return `${new Date(l.at).toISOString()} [${l.actor}] ${l.line}`;
}

/** Prints past lines, then (with follow) live ones until `signal` aborts. */
export async function printLogs(o: LogsOptions): Promise<void> {
  if (o.follow && !o.cluster) throw new Error("following live lines needs a connection to the run");
  const live = o.follow ? o.cluster!.logs(o.actor, o.signal) : undefined;
  if (live) await o.cluster!.nc.flush(); // subscribed before the file is read
  const file = logFile(o.runDir, o.actor);
  const since = o.since;
  const past = async function* () {
    for await (const l of readFileLines(file)) if (since === undefined || l.at >= since) yield l;
  };
  // The time of the last line printed from the file, and the lines printed at that time: -f skips
  // live lines already printed from the file (kept only for one time, so a few lines at most).
  let lastAt = -Infinity;
  const printedAtLast = new Set<string>();
  const print = async (l: FileLine) => {
    await o.write(l.raw);
    if (l.at !== lastAt) printedAtLast.clear();
    lastAt = l.at;
    printedAtLast.add(l.text);
  };
  if (o.tail === undefined) for await (const l of past()) await print(l);
  else for (const l of await lastLines(past(), o.tail)) await print(l);
  if (!live) {
    if (!existsSync(file)) {
      throw new Error(`no log file for actor '${o.actor}' at ${file}: is --run-dir the run's folder, and is the actor on this machine? (-f follows live lines from any machine)`);
    }
    return;
  }
  const names = existsSync(file) ? [] : (await o.cluster!.actors()).map((a) => a.name);
  if (!existsSync(file) && !names.includes(o.actor)) {
    // Following is right for an actor that starts later, but a typo would wait in silence forever.
    o.notice?.(`no log file for '${o.actor}' at ${file} and no actor of that name in the run (${names.length ? `actors: ${names.join(", ")}` : "no actors"}); waiting for its lines (Ctrl-C to stop)`);
  }
  for await (const l of live) {
    if (o.since !== undefined && l.at < o.since) continue;
    if (l.at < lastAt || (l.at === lastAt && printedAtLast.has(`[${l.actor}] ${l.line}`))) continue; // already printed from the file
    await o.write(formatLive(l));
  }
}

export const logsCommand: CommandModule<object, RunArgs & { actor: string; follow: boolean; since?: string; tail?: number }> = {
  command: "logs <actor>",
  describe: "an actor's logs: past lines from the run folder, live ones with -f (across restarts)",
  builder: (y) =>
    withRunOptions(y)
      .positional("actor", { type: "string", demandOption: true, describe: "the actor's name (see `azr actors`)" })
      .option("follow", { alias: "f", type: "boolean", default: false, describe: "keep printing new lines until Ctrl-C" })
      .option("since", { type: "string", describe: "only lines since a duration ago (30s, 10m, 2h, 1d) or a date/time" })
      .option("tail", { alias: "n", type: "number", describe: "only the last N past lines" }),
  handler: async (a) => {
    // NaN (--tail abc) would print every line and a negative count none, both without a word.
    if (a.tail !== undefined && !(Number.isInteger(a.tail) && a.tail >= 0)) {
      process.stderr.write(`azr logs: --tail ${a.tail}: give a whole number of lines ≥ 0\n`);
      process.exitCode = 2;
      return;
    }
    const options = () => ({
      actor: a.actor, follow: a.follow, since: a.since === undefined ? undefined : parseSince(a.since), tail: a.tail,
      write: (l: string) => writeLine(process.stdout, l),
      notice: (l: string) => process.stderr.write(`azr logs: ${l}\n`),
    });
    if (!a.follow) {
      // Past lines need no server: a finished or crashed run, whose server is gone, is when they are read most.
      try {
        await printLogs({ ...options(), runDir: runDirOf(a) });
      } catch (e) {
        process.stderr.write(`azr logs: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
      return;
    }
    await withRun(a, async (c) => {
      const ac = new AbortController();
      process.once("SIGINT", () => ac.abort());
      // Say when the server is lost (lines published meanwhile are not seen) and stop when the run has ended.
      const watch = watchConnection(c, (line, s) => {
        process.stderr.write(`azr logs: ${line}\n`);
        if (s.ended) ac.abort();
      });
      try {
        await printLogs({ ...options(), cluster: c.cluster, runDir: c.runDir, signal: ac.signal });
      } finally {
        watch.stop();
      }
    });
  },
};
