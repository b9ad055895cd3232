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
import { checkName } from "./names.ts";

const USAGE = `usage: NATS_URL=nats://host:4222 node --import tsx runtime/node-agent-main.ts [options]

Joins this machine to a cluster on an existing NATS server (with JetStream) as a node agent, which
starts the actors placed here. NATS_URL is required; NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY,
NATS_CREDS, NATS_CA/NATS_CERT/NATS_KEY as for the azr CLI.

  --cluster <name>     cluster to join (default ${DEFAULT_CLUSTER}; azr selfplay runs in cluster '${DEFAULT_CLUSTER}')
  --id <id>            node id shown by azr nodes (default <host>-<pid>)
  --cpu <n>            CPUs to advertise (default: this machine's)
  --gpu <n>            advertise GPUs 0..n-1 instead of asking nvidia-smi
  --memory-mb <n>      memory to advertise (default: this machine's)
  --label key=value    a label placement can ask for (repeatable)
  --run-dir <dir>      the actors' logs go to <dir>/logs (default runs)
  --echo-logs          also print the actors' log lines here
  --shell on|off       serve azr attach --shell on this node (default AZR_NODE_SHELL, else off)
  --help               this text

Prints "azr node agent <id> ready" once registered; Ctrl-C or SIGTERM stops its actors and leaves.`;

function usageError(message: string): never {
  console.error(`node agent: ${message} (--help lists the options)`);
  process.exit(2);
}

// A typo or --help is answered with one line (or the usage) and exit 2/0, not parseArgs's stack trace.
let parsed;
try {
  parsed = parseArgs({
    options: {
      help: { type: "boolean", default: false },
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
} catch (e) {
  usageError((e as Error).message);
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) usageError(`--${flag} must be a non-negative number, got '${v}'`);
  return n;
}

function onOff(flag: string, v: string): boolean {
  if (v === "on") return true;
  if (v === "off") return false;
  usageError(`--${flag} must be on or off, got '${v}'`);
}

const labels: Record<string, string> = {};
for (const l of values.label ?? []) {
  const i = l.indexOf("=");
  if (i <= 0) usageError(`--label must be key=value, got '${l}'`);
  labels[l.slice(0, i)] = l.slice(i + 1);
}

// Checked before connecting: a bad flag is said as such, not after a connection error or a wait.
function name(kind: "cluster" | "node", v: string | undefined): void {
  if (v === undefined) return;
  try {
    checkName(kind, v);
  } catch (e) {
    usageError((e as Error).message);
  }
}
name("cluster", values.cluster);
name("node", values.id);
const resources = { cpu: num("cpu", values.cpu), gpu: num("gpu", values.gpu), memoryMB: num("memory-mb", values["memory-mb"]), labels };
const shell = nodeShellEnabled(values.shell === undefined ? undefined : onOff("shell", values.shell), process.env, false);

const spec = connectionSpecFromEnv();
if (!spec) {
  console.error("node agent: NATS_URL is not set; a standalone agent joins an existing server (set NATS_URL and its credentials)");
  process.exit(2);
}
/**
 * The server cannot be reached or used: one line naming it and the fix (the connection's own
 * message names the setting; a server without JetStream, where the registry lives, is said as
 * such), exit 1. Not a bug to show a stack for; other errors keep theirs.
 */
function serverFailure(e: Error): never {
  const servers = spec!.servers.join(",");
  if (e.name === "JetStreamNotEnabled") {
    console.error(`node agent: the NATS server at ${servers} runs without JetStream, where azr keeps its registry: start it with -js (README: sync_interval: always), or point NATS_URL at one that has it`);
  } else if (e.message.startsWith("cannot connect to NATS")) {
    console.error(`node agent: ${e.message}`);
  } else throw e;
  process.exit(1);
}
const nc = await openConnection(spec, `azr-node-${values.id ?? process.pid}`).catch(serverFailure);
const agent = await NodeAgent.start({
  nc,
  connection: spec,
  cluster: values.cluster!,
  id: values.id,
  resources,
  runDir: values["run-dir"]!,
  echoLogs: values["echo-logs"],
  shell,
}).catch(serverFailure);
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
