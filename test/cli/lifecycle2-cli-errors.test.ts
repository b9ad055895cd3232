/**
 * `azr kill` / `azr restart` on a name the run does not have — a typo, or an actor of another
 * run (another cluster name on the same server) — and `azr restart` on a dead actor: one line
 * on stderr, `azr kill: ` / `azr restart: ` first, that names the actor, the cluster and what to do,
 * and exit code 2 (a refusal, as the other commands' refusals of bad input).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { Counter } from "../runtime/fixtures/actors.ts";
import { useCluster } from "../runtime/helpers.ts";
import { azrAsync } from "../helpers/cli.ts";


const azr = (...args: string[]) => azrAsync(args);

function oneLineError(r: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 2, `exit code (stdout: ${r.stdout}; stderr: ${r.stderr})`);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line:\n${r.stderr}`);
  assert.match(r.stderr, message);
}

describe("lifecycle2: azr kill / restart errors", () => {
  const t = useCluster("t-lc2-runa", { agent: true });

  test("an unknown name, an actor of another cluster, a dead actor: one line each, exit code 2", async () => {
    await t.cluster.spawn(Counter, [], { name: "a1", freshState: true });
    await t.cluster.spawn(Counter, [], { name: "a2", freshState: true });
    await t.cluster.kill("a2", "done with it");
    const at = (cluster: string) => ["--cluster", cluster, "--nats", t.server.url];
    const [killTypo, restartTypo, killOther, restartOther, restartDead] = await Promise.all([
      azr("kill", "nosuch", ...at("t-lc2-runa")),
      azr("restart", "nosuch", ...at("t-lc2-runa")),
      azr("kill", "a1", ...at("t-lc2-runb")),
      azr("restart", "a1", ...at("t-lc2-runb")),
      azr("restart", "a2", ...at("t-lc2-runa")),
    ]);
    oneLineError(killTypo, /^azr kill: no actor named 'nosuch' in cluster 't-lc2-runa': check the name with `azr actors`/);
    oneLineError(restartTypo, /^azr restart: no actor named 'nosuch' in cluster 't-lc2-runa': check the name with `azr actors`/);
    for (const [r, command] of [[killOther, "kill"], [restartOther, "restart"]] as const) {
      oneLineError(r, new RegExp(`^azr ${command}: no actor named 'a1' in cluster 't-lc2-runb': an actor of that name is in cluster 't-lc2-runa' \\(alive\\): pass --cluster t-lc2-runa\n$`));
    }
    oneLineError(restartDead, /^azr restart: actor 'a2' died or is not running: it is dead \(done with it \(process exited with code 0\)\); restart replaces a running actor's process: spawn it again/);
    assert.equal((await t.cluster.registry.get("a1"))?.state, "alive", "the other run's actor was not touched");
  });
});
