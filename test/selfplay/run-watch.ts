/**
 * Watching a real `azr selfplay` run from outside, as an operator would (kill.test.ts,
 * replicas-e2e.test.ts): its metrics lines, its server through <run-dir>/nats.json, and an actor
 * SIGKILLed and seen back as a new process.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connectToRun } from "../../cli/commands/run-connection.ts";
import type { Cluster } from "../../runtime/index.ts";
import { until } from "../helpers/wait.ts";

/** Steps the run has finished (its metrics lines). */
export const metricsLines = (runDir: string): number => {
  const f = join(runDir, "metrics.jsonl");
  return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n").filter(Boolean).length : 0;
};

/** The run's own cluster, once its server is up. */
export function watchRun(runDir: string): Promise<Cluster> {
  return until("the run's nats server", async () => {
    if (!existsSync(join(runDir, "nats.json"))) return undefined;
    try {
      return (await connectToRun({ cluster: "azr", "run-dir": runDir })).cluster;
    } catch {
      return undefined;
    }
  });
}

/** SIGKILLs the actor's process and waits for its next incarnation, which must come while the run still has steps to go (of `steps`). */
export async function killDuringRun(cluster: Cluster, actor: string, runDir: string, steps: number): Promise<void> {
  const e = await cluster.registry.get(actor);
  assert.ok(e?.pid, `${actor} has a pid in the registry`);
  process.kill(e.pid, "SIGKILL");
  await until(`${actor}'s restart`, async () => {
    const now = await cluster.registry.get(actor);
    return (now?.state === "alive" && now.pid !== e.pid && now.incarnation === e.incarnation + 1) || undefined;
  });
  assert.ok(metricsLines(runDir) < steps, `${actor} came back while the run still had steps to go`);
}
