/**
 * The pieces that make a killed actor's call safe to repeat, in process: the task buffer's
 * idempotent `admit`, and the driver's stream re-open that delivers each index once; and one real
 * kill (a code executor process under a node agent) for the retry budget. (The whole run under
 * kills is kill.test.ts.)
 */
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";
import { identityTriplet, type Triplet } from "../../azr/index.ts";
import { TaskBuffer } from "../../actors/selfplay/task-buffer.ts";
import { resilientPorts, LearnerLostError, ActorGoneError, goneFromRegistry } from "../../actors/selfplay/resilient.ts";
import type { DriverPorts } from "../../actors/selfplay/driver.ts";
import type { IndexedAnswerVerdict } from "../../actors/code-executor/index.ts";
import { ActorDiedError } from "../../runtime/index.ts";
import { LEARNER_VERSION_MISMATCH, WEIGHTS_VERSION_MISMATCH } from "../../actors/selfplay/ports.ts";
import { CodeExecutorActor, verdictStreams } from "../../actors/code-executor/actor.ts";
import { useCluster } from "../runtime/helpers.ts";
import { until } from "../helpers/wait.ts";

const cluster = useCluster("t-resilient", { agent: true });

const cfg = { maxEntries: 100, capPolicy: "evict-oldest" as const, referenceSampling: "uniform" as const, solverMix: "max-new" as const };
const t = (p: string, input: string): Triplet => ({ program: p, input, output: "1", imports: [], step: 3 });

for (const dedupe of ["exact", "none"] as const) {
  test(`task-buffer - admit repeated with the same entries at the same step answers the first call again (dedupe: ${dedupe})`, async () => {
    const b = new TaskBuffer({ ...cfg, dedupe });
    await b.admit("deduction", [identityTriplet()], 0);
    const entries = [t("def f(a):\n    return a", "2"), t("def f(a):\n    return a + 1", "3")];
    const first = await b.admit("deduction", entries, 3);
    assert.equal(first.length, 2);
    // the answer was lost (the actor died after saving); the state comes back from saveState, the driver sends again
    const b2 = new TaskBuffer({ ...cfg, dedupe });
    b2.loadState(structuredClone(b.saveState()));
    assert.deepEqual(await b2.admit("deduction", entries, 3), first, "the same answer, not 'nothing new'");
    assert.equal((await b2.sizes()).deduction, 3, "and nothing stored twice");
    assert.equal((await b2.stats()).admittedTotal, 3);
    // the same entries at another step are a new admission
    assert.equal((await b2.admit("deduction", entries, 4)).length, dedupe === "none" ? 2 : 0);
  });
}

test("resilient ports - a verdict stream cut by a dead actor is re-opened and each index is delivered once; a dead learner is reported as LearnerLostError naming the checkpoint", async () => {
  let opens = 0;
  const verdict = (index: number) => ({ index, ok: true }) as unknown as IndexedAnswerVerdict;
  const executor = {
    async *checkAnswers(checks: unknown[]) {
      opens++;
      for (let i = 0; i < checks.length; i++) {
        if (opens === 1 && i === 2) throw new ActorDiedError("code-executor", "killed by SIGKILL");
        yield verdict(checks.length - 1 - i); // any order
      }
    },
    async *validateProposals() {},
  };
  const learner = { trainStep: async () => { throw new ActorDiedError("learner", "killed by SIGKILL"); } };
  const lines: string[] = [];
  const ports = resilientPorts({ executor, learner } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "continue with --resume: checkpoint step-2" });
  const got: number[] = [];
  for await (const v of ports.executor.checkAnswers(new Array(5).fill({}))) got.push(v.index);
  assert.equal(opens, 2);
  assert.deepEqual(got, [4, 3, 2, 1, 0]);
  assert.ok(lines.some((l) => /code-executor\.checkAnswers\(\) failed: .*SIGKILL; retrying/.test(l)), lines.join("\n"));
  await assert.rejects(ports.learner.trainStep([]), (e: Error) => e instanceof LearnerLostError && /continue with --resume: checkpoint step-2/.test(e.message));
});

test("resilient ports - restarts no call saw: a rollout engine back on other weights gets the version it held again before the retry; a learner back at another version is lost", async () => {
  const pushed: number[] = [];
  let held = 0; // the engine's weight version; a silent restart sets it back to 0
  const rollout = {
    async *generate(prompts: unknown[], o: { weightsVersion?: number }) {
      if (o.weightsVersion !== undefined && o.weightsVersion !== held) throw Object.assign(new Error(`holds ${held}`), { name: WEIGHTS_VERSION_MISMATCH });
      for (let i = 0; i < prompts.length; i++) yield { index: i, version: held };
    },
    countTokens: async () => [],
    setWeights: async (_t: unknown, v: number) => void pushed.push((held = v)),
  };
  let learnerVersion = 0;
  const learner = {
    trainStep: async (_b: unknown, expect?: number) => {
      if (expect !== undefined && expect !== learnerVersion) throw Object.assign(new Error("restarted"), { name: LEARNER_VERSION_MISMATCH });
      return { step: ++learnerVersion } as never;
    },
    weights: async () => ({ version: learnerVersion, tensors: new Map() }),
    save: async () => {},
    load: async () => {},
  };
  const lines: string[] = [];
  const ports = resilientPorts({ rollout, learner } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "checkpoint step-1" });
  await ports.learner.trainStep([]);
  const w = await ports.learner.weights();
  await ports.rollout.setWeights(w.tensors, w.version);
  held = 0; // the engine died and came back between calls
  const got: { version: number }[] = [];
  for await (const s of ports.rollout.generate([{}, {}] as never, { maxNewTokens: 1, temperature: 1, topP: 1, seed: 1 })) got.push(s as never);
  assert.deepEqual(got.map((s) => s.version), [1, 1], "generated on the learner's weights, not the base ones");
  assert.deepEqual(pushed, [1, 1]);
  assert.ok(lines.some((l) => /weights version 1 pushed again/.test(l)));
  learnerVersion = 0; // the learner died and came back between calls
  await assert.rejects(ports.learner.trainStep([]), LearnerLostError);
});

test("resilient ports - off-policy: a rollout engine that dies mid-collection while the learner has moved on gets back the version it held, so the whole collection samples from one policy", async () => {
  const pushed: number[] = [];
  let held = 0;
  let opens = 0;
  const rollout = {
    async *generate(prompts: unknown[], o: { weightsVersion?: number }) {
      opens++;
      if (o.weightsVersion !== undefined && o.weightsVersion !== held) throw Object.assign(new Error(`holds ${held}`), { name: WEIGHTS_VERSION_MISMATCH });
      for (let i = 0; i < prompts.length; i++) {
        if (opens === 1 && i === 2) {
          held = 0; // restarted with the base weights
          throw new ActorDiedError("rollout-engine", "killed by SIGKILL");
        }
        yield { index: i, weightsVersion: held, logprobs: Float32Array.of(-held) };
      }
    },
    countTokens: async () => [],
    setWeights: async (_t: unknown, v: number) => void pushed.push((held = v)),
  };
  let learnerVersion = 0;
  const learner = {
    trainStep: async () => ({ step: ++learnerVersion }) as never,
    weights: async () => ({ version: learnerVersion, tensors: new Map() }),
    save: async () => {},
    load: async () => {},
  };
  const lines: string[] = [];
  const ports = resilientPorts({ rollout, learner } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "none" });
  await ports.learner.trainStep([]);
  const w = await ports.learner.weights();
  await ports.rollout.setWeights(w.tensors, w.version);
  // Off-policy: step t's update (→ version 2) ran while step t+1 is collected from version 1.
  await ports.learner.trainStep([]);
  const got: { weightsVersion: number; logprobs: Float32Array }[] = [];
  for await (const x of ports.rollout.generate([{}, {}, {}, {}] as never, { maxNewTokens: 1, temperature: 1, topP: 1, seed: 1 })) got.push(x as never);
  assert.equal(opens, 2);
  assert.deepEqual(got.map((x) => x.weightsVersion), [1, 1, 1, 1], "every sample of the collection from the version it started with");
  assert.deepEqual(got.map((x) => x.logprobs[0]), [-1, -1, -1, -1], "and its behaviour log-probs from that policy");
  assert.deepEqual(pushed, [1, 1], "the restarted engine got version 1 back, not the learner's newer 2");
  assert.ok(lines.some((l) => /weights version 1 pushed again to the restarted engine \(the version it held/.test(l)), lines.join("\n"));
});

test("resilient ports - a stream whose actor dies after it ran longer than the retry budget is still re-opened (the budget runs from the death)", { timeout: 120_000 }, async () => {
  // A real code executor in its own process under the node agent, SIGKILLed mid-stream.
  const handle = await cluster.cluster.spawn(CodeExecutorActor, [{ workers: 1, limits: { timeoutMs: 5000 } }], { name: "code-executor", maxRestarts: 2 });
  const lines: string[] = [];
  // 8 s for the executor to come back (plenty on a loaded box); the stream has run 9 s before its actor dies.
  const budgetMs = 8000;
  const ports = resilientPorts({ executor: verdictStreams(handle) } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "none", budgetMs });
  const checks = Array.from({ length: 60 }, (_, i) => ({ type: "deduction" as const, program: `def f(a):\n    return a + ${i}`, input: "1" }));
  const got: number[] = [];
  for await (const v of ports.executor.validateProposals(checks)) {
    got.push(v.index);
    if (got.length === 1) {
      // A slow consumer (the stream's window holds the executor back): then the executor dies.
      await sleep(budgetMs + 1000);
      const e = await cluster.cluster.registry.get("code-executor");
      process.kill(e!.pid!, "SIGKILL");
      await until("the executor's death seen", async () => ((await cluster.cluster.registry.get("code-executor"))?.pid !== e!.pid) || undefined, 60_000);
    }
  }
  assert.deepEqual([...got].sort((a, b) => a - b), checks.map((_, i) => i), "every verdict once");
  assert.ok(lines.some((l) => /code-executor\.validateProposals\(\) failed: .*; retrying/.test(l)), lines.join("\n"));
  assert.ok(lines.some((l) => /code-executor\.validateProposals\(\) completed on retry/.test(l)), lines.join("\n"));
});

test("resilient ports - an actor killed for good (azr kill) stops the call at once, naming it and why, instead of retrying for the whole budget", { timeout: 120_000 }, async () => {
  // The ports name their actors as the run spawns them ("code-executor"): an earlier test's one goes first.
  if ((await cluster.cluster.registry.get("code-executor"))?.state !== undefined) await cluster.cluster.kill("code-executor").catch(() => undefined);
  const handle = await cluster.cluster.spawn(CodeExecutorActor, [{ workers: 1, limits: { timeoutMs: 5000 } }], { name: "code-executor", maxRestarts: 2 });
  const lines: string[] = [];
  // The default budget (300 s): what made a killed actor stall the run for five minutes.
  const ports = resilientPorts({ executor: verdictStreams(handle) } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "none", gone: goneFromRegistry(cluster.cluster.registry) });
  const checks = Array.from({ length: 40 }, (_, i) => ({ type: "deduction" as const, program: `def f(a):\n    return a + ${i}`, input: "1" }));
  const started = Date.now();
  await assert.rejects(
    (async () => {
      let n = 0;
      for await (const _ of ports.executor.validateProposals(checks)) if (++n === 1) await cluster.cluster.kill("code-executor", "killed on request (the test)");
    })(),
    (e: Error) => {
      assert.ok(e instanceof ActorGoneError, `${e.name}: ${e.message}`);
      assert.match(e.message, /^code-executor\.validateProposals\(\): actor 'code-executor' is dead and will not be restarted \(.*killed on request \(the test\).*\); the run cannot go on without it$/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 30_000, `gave up after ${Date.now() - started} ms`);
});
