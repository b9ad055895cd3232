/**
 * The run's span collector and reader. Covers: subscribing to `azr.<cluster>.spans` (what every
 * process in local tracing mode publishes, telemetry-local.ts) and appending each record as a
 * line of `<runDir>/traces/spans.jsonl`; reading that file back and picking the traces of one
 * step. Runs in the process that owns the run folder (the self-play driver), so spans from
 * actors on other machines land in the one file. Not: recording spans, printing them.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { subjects } from "./names.ts";
import { startProcessTelemetry, STEP_ATTRIBUTE, type ProcessTelemetry, type SpanRecord } from "./telemetry-local.ts";

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
  const dec = new TextDecoder();
  let count = 0;
  const sub = nc.subscribe(subjects(cluster).spans(), {
    callback: (err, m) => {
      if (err) return;
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
  await nc.flush(); // subscribed before the caller starts anything that traces
  let stopping: Promise<void> | undefined;
  return {
    file,
    get count() {
      return count;
    },
    stop() {
      stopping ??= (async () => {
        await sleep(TRAILING_MS);
        if (!nc.isClosed()) await nc.flush().catch(() => undefined);
        sub.unsubscribe();
        await new Promise<void>((r) => out.end(r));
      })();
      return stopping;
    },
  };
}

/** Every record in the run's trace file ([] when there is none); torn or foreign lines are skipped. */
export function readSpans(runDir: string): SpanRecord[] {
  const file = spansFile(runDir);
  if (!existsSync(file)) return [];
  const out: SpanRecord[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as SpanRecord;
      if (typeof r.trace === "string" && typeof r.span === "string") out.push(r);
    } catch {
      /* a line cut short when the run was killed */
    }
  }
  return out;
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
 * Disposing flushes the process's spans, then closes the collector.
 */
export async function recordRunTraces(nc: NatsConnection, cluster: string, runDir: string, service = "azr-driver"): Promise<AsyncDisposable & { telemetry: ProcessTelemetry; collector?: SpanCollector }> {
  const telemetry = await startProcessTelemetry(service);
  telemetry.attach(nc, cluster);
  const collector = telemetry.mode === "local" ? await collectSpans(nc, cluster, runDir) : undefined;
  return {
    telemetry,
    collector,
    async [Symbol.asyncDispose]() {
      await telemetry.shutdown().catch(() => undefined);
      await collector?.stop();
    },
  };
}
