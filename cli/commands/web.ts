/**
 * `azr web <run-dir>`: serves the run's web view (actors, NATS figures, self-play curves, latest
 * proposed tasks) until Ctrl-C. Connects to the run's cluster when one is live (NATS_URL, or
 * the run's embedded server from <run-dir>/nats.json); otherwise shows the run folder alone.
 */
import { existsSync } from "node:fs";
import type { CommandModule } from "yargs";
import { DEFAULT_CLUSTER, type Cluster } from "../../runtime/index.ts";
import { startWebView } from "../web/server.ts";
import { serverFilePath } from "../../runtime/monitor-server-file.ts";
import { connectToRun, NoLiveRunError } from "./run-connection.ts";

interface WebArgs {
  runDir: string;
  cluster: string;
  port: number;
  host: string;
  nats?: string;
  monitor?: string;
}

export const webCommand: CommandModule<object, WebArgs> = {
  command: "web <run-dir>",
  describe: "serve a run's web view (actors, NATS, curves, latest tasks) on http://127.0.0.1:<port>/",
  builder: (y) =>
    y
      .positional("run-dir", { type: "string", demandOption: true, describe: "the run folder (holds metrics.jsonl)" })
      .option("cluster", { type: "string", default: DEFAULT_CLUSTER, describe: "cluster name" })
      .option("port", { type: "number", default: 8265, describe: "port to listen on (0 = any free port)" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on (the view has no login: keep it local, tunnel over SSH)" })
      .option("nats", { type: "string", describe: "NATS server URL (default NATS_URL, else the run's embedded server)" })
      .option("monitor", { type: "string", describe: "nats-server monitoring URL" }) as never,
  handler: async (a) => {
    let cluster: Cluster | undefined;
    let monitorUrl: string | undefined;
    try {
      ({ cluster, monitorUrl } = await connectToRun({ cluster: a.cluster, "run-dir": a.runDir, nats: a.nats, monitor: a.monitor }));
    } catch (e) {
      if (!(e instanceof NoLiveRunError)) {
        // A server named (NATS_URL, --nats) but unreachable or refusing us: the runtime's message names it and the fix.
        process.stderr.write(`azr web: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      // No cluster and no folder: the view would be empty, and a mistyped path would look like a run with no data.
      if (!existsSync(a.runDir)) {
        process.stderr.write(`azr web: run folder ${a.runDir} does not exist and no live run was found; give the folder \`azr selfplay\` printed (runs/<recipe>-<time>)\n`);
        process.exitCode = 2;
        return;
      }
      // The usual case for a finished run: said in one line. NoLiveRunError's own advice (start the
      // run, pass --run-dir) is for the ops commands: `azr web` has no --run-dir, the folder is its argument.
      process.stderr.write(`azr web: no live run (${serverFilePath(a.runDir)} is missing or its server has stopped, and NATS_URL is unset): showing the run folder only\n`);
    }
    let view;
    try {
      view = await startWebView({ runDir: a.runDir, cluster, monitorUrl, port: a.port, host: a.host });
    } catch (e) {
      process.stderr.write(`azr web: ${(e as Error).message}\n`);
      process.exitCode = 1;
      await cluster?.close();
      return;
    }
    process.stdout.write(`azr web: ${view.url}\n`);
    await new Promise<void>((r) => process.once("SIGINT", () => r()));
    await view.close();
    await cluster?.close();
  },
};
