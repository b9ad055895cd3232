/**
 * `azr trace [step] [--run-dir] [--json] [--all]`: one self-play step's spans across actors,
 * read from the run folder's `traces/spans.jsonl` (written by the driver's span collector when
 * no OTLP endpoint is configured; see runtime/telemetry-local.ts). Without a step: the steps
 * that have a trace. With one: the span tree — start offset, duration, span, process, error.
 * Needs no live run and no external collector. Not: recording (the runtime does it).
 */
import type { CommandModule } from "yargs";
import { DEFAULT_CLUSTER } from "../../runtime/index.ts";
import { readSpanFile, spansFile, stepTraces, type StepTrace } from "../../runtime/telemetry-collector.ts";
import type { SpanRecord } from "../../runtime/telemetry-local.ts";
import { ms, table } from "./ops-format.ts";
import { runDirOf, type RunArgs } from "./run-connection.ts";

export class NoTraceError extends Error {
  override name = "NoTraceError";
}

/** The span tree of one step as a table; a span whose parent was not recorded is shown at the top level. */
export function formatStepTrace(t: StepTrace): string {
  const ids = new Set(t.spans.map((s) => s.span));
  const children = new Map<string | undefined, SpanRecord[]>();
  for (const s of t.spans) {
    const key = s.parent !== undefined && ids.has(s.parent) ? s.parent : undefined;
    let list = children.get(key);
    if (!list) children.set(key, (list = []));
    list.push(s);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const rows: (string | number)[][] = [];
  const walk = (s: SpanRecord, prefix: string, branch: string, orphan: boolean) => {
    const label = `${prefix}${branch}${s.name}${s.kind === "internal" ? "" : ` (${s.kind})`}${orphan ? " [parent not recorded]" : ""}`;
    rows.push([ms(s.start - t.root.start), ms(s.ms), label, s.service, s.error ?? ""]);
    const kids = children.get(s.span) ?? [];
    const next = prefix + (branch === "├─ " ? "│  " : branch === "└─ " ? "   " : "");
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1 ? "└─ " : "├─ ", false));
  };
  for (const top of children.get(undefined) ?? []) walk(top, "", "", top !== t.root);
  const services = new Set(t.spans.map((s) => s.service));
  const errors = t.spans.filter((s) => s.error).length;
  const head =
    `step ${t.step}  trace ${t.trace}  ${t.spans.length} spans in ${services.size} processes  ${(t.root.ms / 1000).toFixed(2)} s` +
    (errors ? `  ${errors} with errors` : "");
  return head + "\n" + table(["START_MS", "MS", "SPAN", "PROCESS", "ERROR"], rows);
}

/** The steps that have a recorded trace, one line each. */
export function formatStepList(traces: StepTrace[]): string {
  const rows = traces.map((t) => [t.step, new Date(t.root.start).toISOString(), (t.root.ms / 1000).toFixed(2), t.spans.length, new Set(t.spans.map((s) => s.service)).size, t.spans.filter((s) => s.error).length]);
  return table(["STEP", "STARTED", "SECONDS", "SPANS", "PROCESSES", "ERRORS"], rows);
}

export interface TraceArgs extends Pick<RunArgs, "cluster" | "run-dir"> {
  step?: number;
  json: boolean;
  all: boolean;
}

/** What `azr trace` prints, or a NoTraceError saying why there is nothing. */
export function traceReport(a: TraceArgs): string {
  const runDir = runDirOf(a as RunArgs);
  const file = spansFile(runDir);
  const { records, skipped } = readSpanFile(runDir);
  const traces = stepTraces(records);
  // What the file holds beyond whole steps, said rather than silently left out.
  const rooted = new Set(traces.map((t) => t.trace));
  const unfinished = new Set(records.filter((r) => !rooted.has(r.trace)).map((r) => r.trace)).size;
  const caveats = [
    skipped ? `${skipped} line(s) of ${file} are not span records (cut short or malformed) and were skipped` : "",
    unfinished ? `${unfinished} trace(s) have spans but no step root: a step that did not end (the driver stopped mid-step?)` : "",
  ].filter(Boolean);
  const caveat = caveats.length ? ` (${caveats.join("; ")})` : "";
  if (traces.length === 0) {
    throw new NoTraceError(
      `no step traces in ${file}${caveat}` +
        `: pass --run-dir <the run's folder>. Traces are recorded by \`azr selfplay\` when no ` +
        `OTEL_EXPORTER_OTLP_ENDPOINT is set and AZR_TRACES is not off (with an endpoint, look in your OTLP backend)`,
    );
  }
  const note = caveats.length && !a.json ? `(${caveats.join("; ")})\n` : "";
  if (a.step === undefined) return a.json ? JSON.stringify(traces, null, 2) : note + formatStepList(traces);
  const ofStep = traces.filter((t) => t.step === a.step);
  if (ofStep.length === 0) {
    const steps = traces.map((t) => t.step);
    throw new NoTraceError(`step ${a.step} has no recorded trace in ${file} (recorded: steps ${Math.min(...steps)}–${Math.max(...steps)}; a step's trace appears when it ends)${caveat}`);
  }
  // A resumed run may have run the step twice: the latest is the one its checkpoint kept.
  const chosen = a.all ? ofStep : ofStep.slice(-1);
  if (a.json) return JSON.stringify(chosen, null, 2);
  const repeated = !a.all && ofStep.length > 1 ? `(step ${a.step} ran ${ofStep.length} times; showing the latest, --all shows every run)\n` : "";
  return note + repeated + chosen.map(formatStepTrace).join("\n\n");
}

export const traceCommand: CommandModule<object, TraceArgs> = {
  command: "trace [step]",
  describe: "one self-play step's spans across actors, from the run folder (no collector needed); no step: list the traced steps",
  builder: (y) =>
    y
      .positional("step", { type: "number", describe: "the step number (as in metrics.jsonl)" })
      .option("cluster", { type: "string", default: DEFAULT_CLUSTER, describe: "cluster name (the default run folder is ./runs/<cluster>)" })
      .option("run-dir", { type: "string", describe: "the run's folder (holds traces/spans.jsonl)" })
      .option("json", { type: "boolean", default: false, describe: "print the span records as JSON" })
      .option("all", { type: "boolean", default: false, describe: "every recorded run of the step (a resumed run may repeat one)" }) as never,
  handler: (a) => {
    // yargs turns `azr trace abc` into NaN, which would be reported as "step NaN has no trace"
    if (a.step !== undefined && !(Number.isInteger(a.step) && a.step >= 0)) {
      process.stderr.write(`azr trace: the step must be a whole number ≥ 0 (as in metrics.jsonl); leave it out to list the traced steps\n`);
      process.exitCode = 2;
      return;
    }
    try {
      process.stdout.write(traceReport(a) + "\n");
    } catch (e) {
      process.stderr.write(`azr trace: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  },
};
