/**
 * The run's span collector and reader. Covers: subscribing to `azr.<cluster>.spans` (what every
 * process in local tracing mode publishes, telemetry-local.ts) and appending each record as a
 * line of `<runDir>/traces/spans.jsonl`; reading that file back and picking the traces of one
 * step. Runs in the process that owns the run folder (the self-play driver), so spans from
 * actors on other machines land in the one file. Not: recording spans, printing them.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { subjects } from "./names.ts";
import { FLUSH_TIMEOUT_MS, flushWithin } from "./nats-flush.ts";
import { NO_TELEMETRY, startProcessTelemetry, STEP_ATTRIBUTE, type ProcessTelemetry, type SpanRecord } from "./telemetry-local.ts";

export function spansFile(runDir: string): string {
  return join(runDir, "traces", "spans.jsonl");
}

/**
 * A streamed call's server span ends just after its last frame is sent, so it can trail the
 * caller's return by a moment: stop() waits this long before closing the file.
 */
const TRAILING_MS = 250;

export interface SpanCollector {
  readonly file: string;
  /** Records written so far. */
  readonly count: number;
  /** Takes in what is still on the way, then closes the file. */
  stop(): Promise<void>;
}

export async function collectSpans(nc: NatsConnection, cluster: string, runDir: string): Promise<SpanCollector> {
  const file = spansFile(runDir);
  mkdirSync(join(runDir, "traces"), { recursive: true });
  const out = createWriteStream(file, { flags: "a" });
  try {
    await once(out, "open"); // a file that cannot be opened fails here, not later as a stray error
  } catch (e) {
    out.destroy();
    throw e;
  }
  // A write error (disk full) would otherwise be an unhandled 'error' event and kill the run;
  // the run goes on, and its traces are named as cut short.
  let writeError: Error | undefined;
  out.on("error", (e) => {
    if (!writeError) console.warn(`step traces: writing ${file} failed (${e.message}); spans from here on are lost, the run goes on`);
    writeError ??= e;
  });
  const dec = new TextDecoder();
  let count = 0;
  const sub = nc.subscribe(subjects(cluster).spans(), {
    callback: (err, m) => {
      if (err || writeError) return;
      const text = dec.decode(m.data);
      try {
        JSON.parse(text); // only whole records reach the file; a stray message on the subject is skipped
      } catch {
        return;
      }
      out.write(text + "\n");
      count++;
    },
  });
  const close = async () => {
    sub.unsubscribe();
    await new Promise<void>((r) => out.end(() => r()));
  };
  try {
    // Subscribed before the caller starts anything that traces; bounded like stop()'s flush.
    const outcome = await flushWithin(nc);
    if (outcome !== "ok") throw new Error(`the NATS server did not confirm the subscription to ${subjects(cluster).spans()} within ${FLUSH_TIMEOUT_MS} ms (${outcome})`);
  } catch (e) {
    await close();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    file,
    get count() {
      return count;
    },
    stop() {
      stopping ??= (async () => {
        await sleep(TRAILING_MS);
        // Bounded: the server may be gone at shutdown (nats-flush.ts); the file is closed either way.
        const outcome = await flushWithin(nc);
        if (outcome !== "ok") console.warn(`step traces: the last spans were not confirmed by the NATS server (${outcome}; waited at most ${FLUSH_TIMEOUT_MS} ms); spans still on the way may be missing from ${file} (${count} recorded)`);
        await close();
      })();
      return stopping;
    },
  };
}

/** Every record in the run's trace file ([] when there is none); torn or foreign lines are skipped. */
export function readSpans(runDir: string): SpanRecord[] {
  return readSpanFile(runDir).records;
}

/** The run's trace file read back: its span records, and how many lines were not one (torn, foreign, hand-edited). */
export function readSpanFile(runDir: string): { records: SpanRecord[]; skipped: number } {
  const file = spansFile(runDir);
  if (!existsSync(file)) return { records: [], skipped: 0 };
  const records: SpanRecord[] = [];
  let skipped = 0;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    let r: SpanRecord | undefined;
    try {
      r = asSpanRecord(JSON.parse(line));
    } catch {
      /* a line cut short when the run was killed */
    }
    if (r) records.push(r);
    else skipped++;
  }
  return { records, skipped };
}

const KINDS = new Set<unknown>(["internal", "server", "client", "producer", "consumer"]);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/**
 * The record if `v` has every field the readers use, with the types they assume; else undefined.
 * A record missing its attributes or times would otherwise fail `azr trace` with a TypeError or
 * print NaN, far from the line at fault.
 */
function asSpanRecord(v: unknown): SpanRecord | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (!isStr(r.trace) || !isStr(r.span) || !isStr(r.name) || !isStr(r.service) || !isNum(r.start) || !isNum(r.ms)) return undefined;
  if (typeof r.attrs !== "object" || r.attrs === null || Array.isArray(r.attrs)) return undefined;
  if ((r.parent !== undefined && !isStr(r.parent)) || (r.error !== undefined && !isStr(r.error)) || !KINDS.has(r.kind)) return undefined;
  return v as SpanRecord;
}

export interface StepTrace {
  step: number;
  trace: string;
  root: SpanRecord;
  spans: SpanRecord[];
}

/** The recorded traces of each step, in the order they ran (a resumed run may have run a step twice). */
export function stepTraces(records: SpanRecord[]): StepTrace[] {
  const byTrace = new Map<string, SpanRecord[]>();
  for (const r of records) {
    let list = byTrace.get(r.trace);
    if (!list) byTrace.set(r.trace, (list = []));
    list.push(r);
  }
  const out: StepTrace[] = [];
  for (const [traceId, spans] of byTrace) {
    const root = spans.find((s) => s.parent === undefined && typeof s.attrs[STEP_ATTRIBUTE] === "number");
    if (root) out.push({ step: root.attrs[STEP_ATTRIBUTE] as number, trace: traceId, root, spans });
  }
  return out.sort((a, b) => a.root.start - b.root.start);
}

/**
 * For the process that owns a run (the self-play driver): starts its telemetry (telemetry-local.ts
 * chooses OTLP, local or none) and, in local mode, the collector that writes the run's trace file.
 * Disposing flushes the process's spans, then closes the collector. Never throws once telemetry
 * has started: trace trouble is warned about and the run goes on (its metrics do not depend on
 * it), and local tracing is always shut down, so a later run in this process can start it again.
 */
export async function recordRunTraces(nc: NatsConnection, cluster: string, runDir: string, service = "azr-driver"): Promise<AsyncDisposable & { telemetry: ProcessTelemetry; collector?: SpanCollector }> {
  const telemetry = await startProcessTelemetry(service);
  let collector: SpanCollector | undefined;
  try {
    telemetry.attach(nc, cluster);
    if (telemetry.mode === "local") collector = await collectSpans(nc, cluster, runDir);
  } catch (e) {
    // Spans nobody collects are only cost: stop tracing now rather than at the run's end.
    await telemetry.shutdown().catch(() => undefined);
    console.warn(`step traces of run ${runDir}: cannot record them in ${spansFile(runDir)} (${(e as Error).message}); no step traces are recorded for this run (azr trace will find none), its metrics still go to metrics.jsonl`);
    return { telemetry: NO_TELEMETRY, async [Symbol.asyncDispose]() {} };
  }
  return {
    telemetry,
    collector,
    async [Symbol.asyncDispose]() {
      // Neither step throws, so tracing is shut down and the file closed whatever the other did.
      await telemetry.shutdown().catch((e: Error) => console.warn(`step traces of run ${runDir}: shutting tracing down failed (${e.message}); the last spans may be missing`));
      await collector?.stop().catch((e: Error) => console.warn(`step traces of run ${runDir}: closing ${collector!.file} failed (${e.message}); the last spans may be missing`));
    },
  };
}
