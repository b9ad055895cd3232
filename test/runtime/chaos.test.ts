/**
 * Ray's chaos test, small: numbered messages sent with retries through a restartable actor
 * whose process is SIGKILLed twice mid-stream; every number must be in its state exactly once
 * (checkpoint after each call + at-least-once retries + idempotent method).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { withCallOptions } from "../../runtime/index.ts";
import { Ledger } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

describe("chaos", () => {
  const t = useCluster("t-chaos", { agent: true });

  test("numbered messages through an actor killed twice: every number arrives, once", async () => {
    const N = 150;
    const ledger = await t.cluster.spawn(Ledger, [], { name: "ledger", maxRestarts: 2 });
    const send = withCallOptions(ledger, { retries: 30 });
    const killAt = new Set([40, 100]);
    for (let i = 0; i < N; i++) {
      await send.record(i);
      if (killAt.has(i)) process.kill((await t.cluster.registry.get("ledger"))!.pid, "SIGKILL");
    }
    assert.deepEqual(await ledger.all(), Array.from({ length: N }, (_, i) => i));
    const e = await t.cluster.registry.get("ledger");
    assert.equal(e?.restarts, 2);
    assert.equal(e?.state, "alive");
  });
});
