/**
 * `azr model …`: look inside the model engine's graphs and move checkpoints between formats.
 *   dump   — write one of our graphs (step, score, logits) for a config.json as a .onnx file
 *            (weights are graph inputs, so no weights are needed; open it in Netron);
 *   export — write a Hugging Face checkpoint in the transformers.js layout (onnx/model.onnx).
 * And the top-level `azr export <checkpoint> <dir>`: a self-play checkpoint as a Hugging Face folder.
 */
import { LoraError } from "../../model/train/lora.ts";
import type { CommandModule } from "yargs";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parentPort, Worker } from "node:worker_threads";
import { ConfigError, readConfig, weightShapes } from "../../model/config.ts";
import { CheckpointError, clearStalePartials, loadWeights, partialFolders, removePartials } from "../../model/checkpoint.ts";
import { SafetensorsError } from "../../model/safetensors.ts";
import { buildGraph, type GraphKind } from "../../model/arch/transformer.ts";
import { dumpGraph } from "../../model/graph/serialize.ts";
import { exportTransformersJs } from "../../model/export/transformers-js.ts";
import { processAlive } from "../../runtime/process-alive.ts";
import { exportCheckpoint, ExportError, findExportSource } from "../../actors/selfplay/export.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";

const KINDS: GraphKind[] = ["step", "decode", "score", "logits"];

interface DumpArgs {
  dir: string;
  graph: GraphKind;
  out?: string;
}

const dumpCommand: CommandModule<object, DumpArgs> = {
  command: "dump <dir>",
  describe: "write a model graph as .onnx (from the directory's config.json; weights stay inputs)",
  builder: (y) =>
    y
      .positional("dir", { type: "string", demandOption: true, describe: "model directory holding config.json" })
      .option("graph", { choices: KINDS, default: "step" as GraphKind, describe: "which graph: step (prefill, and decode for large models), decode (one token a row: small models), score (per-token log-probs) or logits" })
      .option("out", { type: "string", describe: "output file (default: <graph>.onnx in the current directory)" }),
  handler: (argv) =>
    reportRefusal("model dump", () => {
      const config = readConfig(argv.dir);
      const graph = buildGraph(config, argv.graph);
      const out = argv.out ?? `${argv.graph}.onnx`;
      if (existsSync(out) && statSync(out).isDirectory()) throw new OutputPathError(`--out ${out} is a folder: give the .onnx file to write, e.g. --out ${join(out, `${argv.graph}.onnx`)}`);
      checkParents(out, "--out");
      mkdirSync(dirname(resolve(out)), { recursive: true }); // as export makes its folder's parents
      dumpGraph(graph, out);
      const ops = Object.entries(graph.opCounts()).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}×${n}`).join(" ");
      return `${out}: ${graph.nodes.length} nodes, ${graph.inputs.length} inputs, ${graph.outputs.length} outputs\n${ops}`;
    }),
};

/** An output path that cannot be written (a file where a folder must be): the user's to fix. */
class OutputPathError extends Error {
  override name = "OutputPathError";
}

/**
 * Refuses a path whose parent folders include a file: mkdir/open failed there with EEXIST/ENOTDIR
 * and a stack trace. Folders that do not exist yet are fine (they are made).
 */
function checkParents(path: string, what: string): void {
  for (let p = dirname(resolve(path)); ; p = dirname(p)) {
    if (existsSync(p)) {
      if (!statSync(p).isDirectory()) throw new OutputPathError(`${what} ${path}: ${p} is a file, not a folder; give a path under a folder`);
      return;
    }
    if (dirname(p) === p) return;
  }
}

/**
 * A source it refuses — an ExportError, a ConfigError (no or unreadable config.json: the wrong
 * folder), a folder without weights or whose weights do not match its config — is the user's to
 * fix: one line naming it, exit code 2, no stack trace.
 */
const isRefusal = (e: unknown): e is Error =>
  e instanceof OutputPathError || e instanceof ExportError || e instanceof ConfigError || e instanceof SafetensorsError || e instanceof CheckpointError || e instanceof LoraError;

/** Runs a model command and prints its line (a refused source: see isRefusal). */
function reportRefusal(label: string, run: () => string): void {
  try {
    console.log(run());
  } catch (e) {
    if (!isRefusal(e)) throw e;
    console.error(`azr ${label}: ${e.message}`);
    process.exitCode = 2;
  }
}

/** A command that writes one model folder from another: `export <from> <to>`, both required paths. */
interface ExportSpec {
  /** How the error line names the command: `export` (top level) or `model export`. */
  label: string;
  describe: string;
  from: { name: string; describe: string };
  to: { name: string; describe: string };
  /** Writes `to` from `from`; returns the line that says what was written. */
  run(from: string, to: string): string;
  /** About how many bytes `run` writes (for the progress line); undefined when it cannot tell. */
  size(from: string): number | undefined;
}

/** The export commands' shared builder and handler (a refused source: see isRefusal). */
function exportCommandOf(s: ExportSpec): CommandModule<object, Record<string, string>> {
  return {
    command: `export <${s.from.name}> <${s.to.name}>`,
    describe: s.describe,
    builder: (y) =>
      y
        .positional(s.from.name, { type: "string", demandOption: true, describe: s.from.describe })
        .positional(s.to.name, { type: "string", demandOption: true, describe: s.to.describe }) as never,
    handler: (argv) => runExport(s, argv[s.from.name], argv[s.to.name]),
  };
}

/** Exports this large show a progress line on a terminal (smaller ones take a few seconds). */
export const PROGRESS_MIN_BYTES = 256 * 2 ** 20;

const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GB` : `${(n / 2 ** 20).toFixed(0)} MB`);
const fmtDuration = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`);

/** The progress line of an export that has written `written` of about `total` bytes in `seconds`. */
export function progressLine(label: string, written: number, total: number, seconds: number): string {
  const rate = seconds > 0 ? written / seconds : 0;
  const left = Math.max(0, total - written);
  const eta = rate > 0 ? fmtDuration(left / rate) : "?";
  return `azr ${label}: ${fmtBytes(written)} of ${fmtBytes(total)} written (${Math.min(100, Math.floor((100 * written) / total))}%), ${fmtBytes(rate)}/s, ETA ${eta}`;
}

/** Bytes under `path` (a folder's files, recursively); 0 for one that vanished meanwhile (renamed when done). */
function bytesUnder(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.size;
    return readdirSync(path).reduce((n, f) => n + bytesUnder(join(path, f)), 0);
  } catch {
    return 0;
  }
}

/**
 * A progress line on stderr, rewritten each second, for an export of more than PROGRESS_MIN_BYTES
 * to a terminal: it measures the partial folder's size, since the write itself (in the worker) is
 * one synchronous call. Returns the function that clears it.
 */
function startProgress(label: string, to: string, total: number | undefined): () => void {
  if (!process.stderr.isTTY || total === undefined || total <= PROGRESS_MIN_BYTES) return () => {};
  const t0 = performance.now();
  const tick = setInterval(() => {
    const written = partialFolders(to).filter((p) => p.pid === process.pid).reduce((n, p) => n + bytesUnder(p.path), 0);
    process.stderr.write(`\r\x1b[K${progressLine(label, written, total, (performance.now() - t0) / 1000)}`);
  }, 1000);
  return () => {
    clearInterval(tick);
    process.stderr.write("\r\x1b[K");
  };
}


/** What the export worker reports: the command's line, a refusal's message; a crash arrives as the worker's error. */
type JobResult = { line: string } | { refusal: string };
interface ExportJob {
  label: string;
  from: string;
  to: string;
}

/**
 * Runs an export. The write (many GB for a large model) is synchronous, so it runs in a worker
 * thread: Ctrl-C and SIGTERM then reach this thread's handler, which stops the worker and removes
 * its partial folder — a signal used to kill the process mid-write and leave a hidden
 * `.<dir>.partial-*` folder behind. A second signal quits at once; the next export to the same
 * folder removes what that leaves (clearStalePartials), as it does for an export killed outright.
 */
async function runExport(s: ExportSpec, from: string, to: string): Promise<void> {
  const prefix = `azr ${s.label}`;
  try {
    checkParents(to, "output folder");
  } catch (e) {
    if (!isRefusal(e)) throw e;
    console.error(`${prefix}: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  const stale = clearStalePartials(to, processAlive);
  for (const p of stale.removed) console.error(`${prefix}: removed ${p}, left by an export to ${to} that did not finish (its process is gone)`);
  for (const k of stale.kept) console.error(`${prefix}: ${k.path} is a partial folder of ${k.owner}; if no export to ${to} is running, remove it: rm -rf '${k.path}'`);
  let total: number | undefined;
  try {
    total = s.size(from);
  } catch {
    total = undefined; // the worker's export names what is wrong with the source
  }
  const result = await new Promise<JobResult | undefined>((done, fail) => {
    const job: ExportJob = { label: s.label, from, to };
    const worker = new Worker(new URL("./export-worker.mjs", import.meta.url), { workerData: { azrExportJob: job } });
    let result: JobResult | undefined;
    let failure: Error | undefined;
    let stopping: NodeJS.Signals | undefined;
    const stopProgress = startProgress(s.label, to, total);
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        console.error(`${prefix}: ${sig} again: quitting; the next export to ${to} removes the partial folder left beside it`);
        process.exit(signalExitCode(sig));
      }
      stopping = sig;
      stopProgress();
      console.error(`${prefix}: ${sig}: stopping the export and removing its partial folder (send it again to quit at once)`);
      void worker.terminate();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    worker.on("message", (m: JobResult) => (result = m));
    worker.on("error", (e) => (failure = e));
    worker.on("exit", (code) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      stopProgress();
      // A stopped (or failed) write leaves its temp folder: writeNewFolder's cleanup never ran in a terminated worker.
      const removed = removePartials(to, process.pid);
      if (result) return done(result); // finished before the signal took effect
      if (stopping) {
        console.error(`${prefix}: stopped by ${stopping}: nothing was written to ${to}${removed.length ? `; removed the partial folder ${removed.join(", ")}` : ""}`);
        process.exitCode = signalExitCode(stopping);
        return done(undefined);
      }
      fail(failure ?? new Error(`${prefix}: the export's worker exited with code ${code} before finishing`));
    });
  });
  if (!result) return;
  if ("line" in result) console.log(result.line);
  else {
    console.error(`${prefix}: ${result.refusal}`);
    process.exitCode = 2;
  }
}

/** In the export worker (export-worker.mjs): runs the job and posts its line or refusal; anything else is thrown (the worker's error). */
export function runExportJob(job: ExportJob): void {
  const spec = EXPORT_SPECS.find((s) => s.label === job.label);
  if (!spec) throw new Error(`no export command ${job.label}`);
  let result: JobResult;
  try {
    result = { line: spec.run(job.from, job.to) };
  } catch (e) {
    if (!isRefusal(e)) throw e;
    result = { refusal: e.message };
  }
  parentPort!.postMessage(result);
}

const modelExportSpec: ExportSpec = {
  label: "model export",
  describe: "write a checkpoint in the transformers.js layout (onnx/model.onnx + model.onnx_data, tokenizer copied)",
  from: { name: "dir", describe: "Hugging Face model directory (config.json, *.safetensors)" },
  to: { name: "out", describe: "output directory" },
  run: (dir, out) => {
    const config = readConfig(dir);
    exportTransformersJs(out, config, loadWeights(dir, config), processAlive, dir);
    return `wrote ${join(out, "onnx", "model.onnx")}`;
  },
  // fp32 weights, as model.onnx_data holds them
  size: (dir) => [...weightShapes(readConfig(dir)).values()].reduce((n, shape) => n + 4 * shape.reduce((a, b) => a * b, 1), 0),
};
const exportCommand = exportCommandOf(modelExportSpec);

/** `azr export <checkpoint> <dir>` (top level, as issue #6 names it): a self-play checkpoint as a Hugging Face folder. */
const checkpointExportSpec: ExportSpec = {
  label: "export",
  describe: "write a self-play checkpoint (run folder, checkpoints/step-N or its learner/) as a Hugging Face model folder",
  from: { name: "checkpoint", describe: "run folder (its newest checkpoint), runs/<run>/checkpoints/step-N, or its learner/ folder" },
  to: { name: "dir", describe: "output folder (config.json, model.safetensors, tokenizer files)" },
  run: (checkpoint, dir) => {
    const { source, files } = exportCheckpoint(checkpoint, dir);
    return `wrote ${dir} from ${source.learnerDir}: ${files.join(", ")}`;
  },
  // The learner's weight files, copied or merged into as many bytes; unknown for an adapters-only learner.
  size: (checkpoint) => {
    const { learnerDir } = findExportSource(checkpoint);
    const n = readdirSync(learnerDir).filter((f) => /^model.*\.safetensors$/.test(f)).reduce((n, f) => n + statSync(join(learnerDir, f)).size, 0);
    return n || undefined;
  },
};
export const exportCheckpointCommand = exportCommandOf(checkpointExportSpec);

const EXPORT_SPECS = [modelExportSpec, checkpointExportSpec];

export const modelCommand: CommandModule = {
  command: "model",
  describe: "model folders: `model dump <dir>` writes a graph as .onnx, `model export <dir> <out>` the transformers.js layout",
  // "model bogus" said "Not enough non-option arguments: got 0, need at least 1": the word was taken as
  // the <command> positional; strictCommands names it as an unknown command instead.
  builder: (y) => y.command(dumpCommand).command(exportCommand).demandCommand(1, "name a model command: dump or export").strictCommands(),
  handler: () => {},
};

