/**
 * Runs a node agent as its own process (one per machine):
 *   node --import tsx runtime/node-agent-main.ts --cluster azr --gpu 1 --label zone=a --run-dir runs/azr [--shell on]
 * Connects with the NATS_* environment (NATS_URL is required: agents join an existing server).
 * Without --gpu it advertises the GPUs nvidia-smi lists (none when it is missing or fails);
 * --gpu N advertises devices 0…N-1 without asking the driver (how tests fake GPUs).
 * Prints `azr node agent <id> ready` on stdout once it is registered, then its GPUs; SIGTERM/SIGINT
 * stop its actors and leave the cluster. Not: the `azr` CLI's flags and help (cli/ wraps this).
 */
import { parseArgs } from "node:util";
import { connectionSpecFromEnv, openConnection } from "./connection.ts";
import { DEFAULT_CLUSTER } from "./cluster.ts";
import { NodeAgent } from "./node-agent.ts";
import { nodeShellEnabled } from "./attach-shell.ts";
import { describeGpus } from "./gpus.ts";

const { values } = parseArgs({
  options: {
    cluster: { type: "string", default: DEFAULT_CLUSTER },
    id: { type: "string" },
    cpu: { type: "string" },
    gpu: { type: "string" },
    "memory-mb": { type: "string" },
    label: { type: "string", multiple: true, default: [] },
    "run-dir": { type: "string", default: "runs" },
    "echo-logs": { type: "boolean", default: false },
    // on/off; default AZR_NODE_SHELL, else off: a standalone agent joins a machine to a cluster,
    // and a shell there for every credential holder is its operator's call (attach-shell.ts).
    shell: { type: "string" },
  },
});

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a non-negative number, got '${v}'`);
  return n;
}

function onOff(flag: string, v: string): boolean {
  if (v === "on") return true;
  if (v === "off") return false;
  throw new Error(`--${flag} must be on or off, got '${v}'`);
}

const labels: Record<string, string> = {};
for (const l of values.label ?? []) {
  const i = l.indexOf("=");
  if (i <= 0) throw new Error(`--label must be key=value, got '${l}'`);
  labels[l.slice(0, i)] = l.slice(i + 1);
}

const spec = connectionSpecFromEnv();
if (!spec) {
  console.error("node agent: NATS_URL is not set; a standalone agent joins an existing server (set NATS_URL and its credentials)");
  process.exit(2);
}
const nc = await openConnection(spec, `azr-node-${values.id ?? process.pid}`);
const agent = await NodeAgent.start({
  nc,
  connection: spec,
  cluster: values.cluster!,
  id: values.id,
  resources: { cpu: num("cpu", values.cpu), gpu: num("gpu", values.gpu), memoryMB: num("memory-mb", values["memory-mb"]), labels },
  runDir: values["run-dir"]!,
  echoLogs: values["echo-logs"],
  shell: nodeShellEnabled(values.shell === undefined ? undefined : onOff("shell", values.shell), process.env, false),
});
console.log(`azr node agent ${agent.id} ready`);
console.log(`gpus: ${describeGpus(agent.node.gpus ?? [])}${agent.node.gpuNote ? ` (${agent.node.gpuNote})` : ""}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await agent.close().catch((e: Error) => console.error(`node agent ${agent.id}: close: ${e.message}`));
  await nc.drain().catch(() => nc.close());
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
