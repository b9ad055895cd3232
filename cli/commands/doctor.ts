/**
 * `azr doctor`: what this machine gives azr and what is missing, each with the fix.
 * Covers: nats-server (embedded) or NATS_URL, the Python interpreter and its packages,
 * onnxruntime-node, the GPUs (nvidia-smi). Each check is independent so one failure does not hide the rest.
 */
import { execFileSync } from "node:child_process";
import type { CommandModule } from "yargs";
import { natsServerVersion, versionAtLeast } from "../../runtime/nats-server.ts";
import { findPython } from "../../model/python.ts";
import { describeGpus, detectGpusSync } from "../../runtime/index.ts";
import { describeIsolation, probeIsolation } from "../../actors/code-executor/index.ts";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function checkNats(): Check {
  if (process.env.NATS_URL) {
    return {
      name: "nats",
      ok: true,
      detail: `NATS_URL=${process.env.NATS_URL} (cluster: run nats-server ≥ 2.10.23 with jetstream sync_interval: always)`,
    };
  }
  try {
    const v = natsServerVersion();
    const durable = versionAtLeast(v, 2, 10);
    return {
      name: "nats",
      ok: true,
      detail: `embedded nats-server ${v}` + (durable ? " (sync_interval: always)" : " (no sync_interval before 2.10: acked writes survive a server kill, not an OS crash)"),
    };
  } catch (e) {
    return { name: "nats", ok: false, detail: (e as Error).message, fix: "make setup" };
  }
}

function checkPython(): Check[] {
  const py = findPython();
  const modules = ["numpy", "msgpack", "pebble", "torch", "sympy"];
  const script = `import importlib,json\nout={}\nfor m in ${JSON.stringify(modules)}:\n  try:\n    out[m]=getattr(importlib.import_module(m),'__version__','yes')\n  except Exception as e:\n    out[m]=None\nimport sys\nout['python']=sys.version.split()[0]\nprint(json.dumps(out))`;
  try {
    const found = JSON.parse(execFileSync(py.path, ["-c", script], { encoding: "utf8" })) as Record<string, string | null>;
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
    return [{ name: "python", ok: false, detail: `${py.path} failed: ${(e as Error).message}`, fix: "make setup, or set AZR_PYTHON" }];
  }
}

async function checkOnnxruntime(): Promise<Check> {
  try {
    const ort = await import("onnxruntime-node");
    return { name: "onnxruntime-node", ok: true, detail: `backends: ${ort.listSupportedBackends().map((b) => b.name).join(", ")}` };
  } catch (e) {
    return { name: "onnxruntime-node", ok: false, detail: (e as Error).message, fix: "make setup (npm ci with ONNXRUNTIME_NODE_INSTALL=skip)" };
  }
}

async function checkSandbox(): Promise<Check> {
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
  return [checkNats(), ...checkPython(), await checkOnnxruntime(), await checkSandbox(), checkGpus()];
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
