/** `azr top`'s text (cli/commands/top.ts renderTop) from a snapshot made by hand: the columns a live cluster here cannot show. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderTop, type ActorRow, type TopSnapshot } from "../../cli/commands/top.ts";

const stats = (extra: Partial<NonNullable<ActorRow["stats"]>> = {}): NonNullable<ActorRow["stats"]> => ({
  pid: 1, instance: "i", inFlight: 0, maxRssBytes: 2 ** 28, childrenMaxRssBytes: 0,
  calls: 3, errors: 0, callsPerSec: 0.5, p50Ms: 2, p99Ms: 9, queueDepth: 0, ...extra,
} as NonNullable<ActorRow["stats"]>);

const row = (name: string, s: ActorRow["stats"]): ActorRow => ({
  name, state: "alive", node: "n1", pid: 100, restarts: 0, maxRestarts: 3, incarnation: 1, uptimeSec: 65, stats: s,
});

test("top - GPU_PEAK shows an engine's reserved GPU memory, '-' for actors without one", () => {
  const snap: TopSnapshot = {
    at: "2026-11-28T12:00:00.000Z", cluster: "c", nodes: [], nats: { monitorUrl: "http://127.0.0.1:1", error: "not running" },
    actors: [
      row("learner", stats({ deviceMemory: { peakReservedBytes: 30 * 2 ** 30, peakAllocatedBytes: 20 * 2 ** 30, devices: 2 } })),
      row("task-buffer", stats()),
    ],
  };
  const lines = renderTop(snap).split("\n");
  const header = lines.find((l) => l.startsWith("ACTOR"))!;
  const at = header.indexOf("GPU_PEAK");
  assert.ok(at > header.indexOf("TREE_CPU%") && at < header.indexOf("ATTACHED"), header);
  const cell = (name: string) => lines.find((l) => l.startsWith(name))!.slice(at).trim().split(/\s+/)[0];
  assert.equal(cell("learner"), "30GiB");
  assert.equal(cell("task-buffer"), "-");
});
