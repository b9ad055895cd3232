/**
 * `azr doctor`: what this machine gives azr and what is missing, each with the fix.
 * Covers: nats-server (embedded) or NATS_URL, the Python interpreter and its packages,
 * onnxruntime-node, the GPUs (nvidia-smi). Each check is independent so one failure does not hide the rest.
 */
import { execFileSync } from "node:child_process";
import type { CommandModule } from "yargs";
import type { NatsConnection } from "@nats-io/nats-core";
import { natsServerVersion, versionAtLeast } from "../../runtime/nats-server.ts";
import { connectionSpecFromEnv, openConnection, type ConnectionSpec } from "../../runtime/connection.ts";
import { guessMonitorUrl } from "../../runtime/monitor.ts";
import { findPython } from "../../model/python.ts";
import { describeGpus, detectGpusSync } from "../../runtime/index.ts";
import { describeIsolation, probeIsolation } from "../../actors/code-executor/index.ts";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** What a cluster's server needs for acked writes to survive an OS crash (design.md, "Reliability facts"). */
const DURABLE = "nats-server ≥ 2.10.23 with jetstream { sync_interval: always }";

async function checkNats(): Promise<Check> {
  const spec = connectionSpecFromEnv();
  if (spec) return checkNatsUrl(spec);
  try {
    const v = natsServerVersion();
    const durable = versionAtLeast(v, 2, 10, 23);
    return {
      name: "nats",
      ok: true,
      detail: `embedded nats-server ${v}` + (durable ? " (sync_interval: always)"
        : " (before 2.10.23: acked writes survive a server kill, not an OS crash; a run's registry and actor state may be lost then, its checkpoints on disk are not)"),
    };
  } catch (e) {
    return { name: "nats", ok: false, detail: (e as Error).message, fix: "make setup" };
  }
}

/**
 * The server NATS_URL names, as a run will meet it: reachable with the NATS_* credentials, with
 * JetStream (the registry, actor state and object store live there), and durable when its
 * monitoring endpoint says so (a client cannot read the server's sync setting; /varz can).
 */
async function checkNatsUrl(spec: ConnectionSpec): Promise<Check> {
  const where = `NATS_URL=${spec.servers.join(",")}`;
  let nc: NatsConnection;
  try {
    nc = await openConnection(spec, "azr-doctor", { timeoutMs: 5_000 });
  } catch (e) {
    return { name: "nats", ok: false, detail: `${where}: ${(e as Error).message}`, fix: "start the server, or fix NATS_URL and the NATS_* credentials" };
  }
  try {
    const info = nc.info!;
    if (!info.jetstream) return { name: "nats", ok: false, detail: `${where}: nats-server ${info.version} runs without JetStream`, fix: "start it with -js (or jetstream {} in its config): azr keeps its registry, actor state and large payloads there" };
    const syncAlways = await monitoredSyncAlways(process.env.NATS_MONITOR_URL ?? guessMonitorUrl(spec.servers[0]));
    const said = syncAlways === true ? "sync_interval: always (from /varz)" : syncAlways === false ? "jetstream syncs on its interval (from /varz): acked writes can be lost in an OS crash" : "sync setting unknown (no monitoring endpoint answered; set NATS_MONITOR_URL)";
    // Usable either way (ok: true); the fix says how to make it survive an OS crash. An unknown sync setting is not held against it.
    const maybeDurable = versionAtLeast(info.version, 2, 10, 23) && syncAlways !== false;
    return {
      name: "nats",
      ok: true,
      detail: `${where}: nats-server ${info.version} with JetStream; ${said}`,
      fix: maybeDurable ? undefined : `for runs that survive an OS crash use ${DURABLE}`,
    };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** /varz's jetstream.config.sync_always, or undefined when the endpoint does not answer (in 1.5 s) or does not say. */
async function monitoredSyncAlways(monitorUrl: string): Promise<boolean | undefined> {
  try {
    const r = await fetch(`${monitorUrl.replace(/\/$/, "")}/varz`, { signal: AbortSignal.timeout(1_500) });
    if (!r.ok) return undefined;
    const varz = (await r.json()) as { jetstream?: { config?: { sync_always?: boolean; sync_interval?: unknown } } };
    const config = varz.jetstream?.config;
    if (!config) return undefined;
    return config.sync_always === true;
  } catch {
    return undefined;
  }
}

function checkPython(): Check[] {
  const py = findPython();
  const modules = ["numpy", "msgpack", "pebble", "torch", "sympy"];
  const script = `import importlib,json\nout={}\nfor m in ${JSON.stringify(modules)}:\n  try:\n    out[m]=getattr(importlib.import_module(m),'__version__','yes')\n  except Exception as e:\n    out[m]=None\nimport sys\nout['python']=sys.version.split()[0]\nprint(json.dumps(out))`;
  try {
    const found = JSON.parse(execFileSync(py.path, ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })) as Record<string, string | null>;
    const checks: Check[] = [{ name: "python", ok: true, detail: `${py.path} ${found.python} — chosen because: ${py.reason}` }];
    for (const m of modules) {
      const need = m === "torch" ? "for the torch engine and parity tests" : m === "sympy" ? "for math evaluation" : "for the executor";
      checks.push(
        found[m]
          ? { name: `python: ${m}`, ok: true, detail: String(found[m]) }
          : { name: `python: ${m}`, ok: false, detail: `not importable by ${py.path} (${need})`, fix: `make setup (installs python3-${m}), or set AZR_PYTHON to an interpreter that has it` },
      );
    }
    return checks;
  } catch (e) {
    return [pythonFailure(py, e as NodeJS.ErrnoException & { status?: number | null; stderr?: string })];
  }
}

/**
 * The interpreter could not run the probe. Said by what went wrong, not as the exec error (which
 * was "spawnSync … ENOENT", or the whole probe script echoed back), with the fix for how it was chosen.
 */
function pythonFailure(py: { path: string; reason: string }, e: NodeJS.ErrnoException & { status?: number | null; stderr?: string }): Check {
  const viaEnv = py.reason.startsWith("AZR_PYTHON");
  const fix = viaEnv
    ? "point AZR_PYTHON at a Python 3 with numpy, msgpack and pebble (make setup installs Debian's: AZR_PYTHON=/usr/bin/python3), or unset it"
    : "make setup (installs python3 and its packages), or set AZR_PYTHON to a Python 3 interpreter";
  if (e.code === "ENOENT") return { name: "python", ok: false, detail: `${py.path} does not exist (${py.reason})`, fix };
  if (e.code === "EACCES") return { name: "python", ok: false, detail: `${py.path} cannot be run: permission denied (${py.reason})`, fix };
  const said = String(e.stderr ?? "").trim().split("\n").filter(Boolean).at(-1);
  return { name: "python", ok: false, detail: `${py.path} (${py.reason}) could not run a Python probe: exit ${e.status ?? e.code ?? "?"}${said ? `: ${said}` : ""}`, fix };
}

async function checkOnnxruntime(): Promise<Check> {
  try {
    const ort = await import("onnxruntime-node");
    return { name: "onnxruntime-node", ok: true, detail: `backends: ${ort.listSupportedBackends().map((b) => b.name).join(", ")}` };
  } catch (e) {
    return { name: "onnxruntime-node", ok: false, detail: (e as Error).message, fix: "make setup (npm ci with ONNXRUNTIME_NODE_INSTALL=skip)" };
  }
}

/**
 * `pythonBroken`: the interpreter or an executor package failed its own check above. The executor's
 * workers run in that interpreter, so the sandbox fails too, and the fix is that check's, not
 * bubblewrap (which was said, with a worker's traceback or "lstat '/nonexistent'" as the detail).
 */
async function checkSandbox(pythonBroken: string | undefined): Promise<Check> {
  if (pythonBroken) return { name: "executor sandbox", ok: false, detail: `not probed: its workers run in the Python that failed above (${pythonBroken})`, fix: "fix the python check(s) above first" };
  try {
    const r = await probeIsolation();
    return {
      name: "executor sandbox",
      ok: r.level === "full",
      detail: describeIsolation(r),
      fix: r.warnings.length ? r.warnings.join("; ") : undefined,
    };
  } catch (e) {
    return { name: "executor sandbox", ok: false, detail: (e as Error).message, fix: "make setup (installs bubblewrap); see the message above" };
  }
}

/** No GPU is fine (the tiny recipe and the ort engine need none): reported, with why, not failed. */
function checkGpus(): Check {
  const d = detectGpusSync();
  return { name: "gpus", ok: true, detail: d.gpus.length ? `${describeGpus(d.gpus)}${d.reason ? `; ${d.reason}` : ""}` : `none: ${d.reason} (CPU recipes only)` };
}

export async function runDoctor(): Promise<Check[]> {
  const python = checkPython();
  // torch and sympy are not the executor's: their absence leaves the sandbox to be probed.
  const broken = python.filter((c) => !c.ok && !/torch|sympy/.test(c.name)).map((c) => c.name).join(", ") || undefined;
  return [await checkNats(), ...python, await checkOnnxruntime(), await checkSandbox(broken), checkGpus()];
}

export const doctorCommand: CommandModule<object, { json: boolean }> = {
  command: "doctor",
  describe: "check what this machine provides (NATS, Python, onnxruntime, sandbox) and how to fix what is missing",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "print the checks as JSON" }),
  handler: async (argv) => {
    const checks = await runDoctor();
    if (argv.json) console.log(JSON.stringify(checks, null, 2));
    else for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(22)} ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ""}`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  },
};
