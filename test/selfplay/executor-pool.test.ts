/**
 * The executor pool (actors/selfplay/executor-pool.ts) over real sandboxed executors: checks dealt
 * round-robin, verdicts back under the caller's indices and equal to one executor's (seed programs
 * from ../shared/azr-seeds, right and wrong answers), a failing replica named, and the per-replica
 * retry of resilient.ts.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CodeExecutor, deductionTask, type AnswerCheck, type ProposalCheck } from "../../actors/code-executor/index.ts";
import { ExecutorPool, ExecutorReplicaError, executorName } from "../../actors/selfplay/executor-pool.ts";
import type { ExecutorPort } from "../../actors/selfplay/ports.ts";
import { resilientPorts } from "../../actors/selfplay/resilient.ts";
import type { DriverPorts } from "../../actors/selfplay/driver.ts";
import { ActorDiedError } from "../../runtime/index.ts";
import { SEEDS_DIR } from "../helpers/shared.ts";

const seeds = readFileSync(join(SEEDS_DIR, "7b_seed_io.jsonl"), "utf8").trim().split("\n").slice(0, 24)
  .map((l) => JSON.parse(l) as { snippet: string; input: string; output: string });
const proposals: ProposalCheck[] = seeds.map((s) => ({ type: "deduction", program: s.snippet, input: s.input }));
// Every other answer wrong: the verdicts differ by index, so a misplaced one shows.
const answers: AnswerCheck[] = seeds.map((s, i) => ({ task: deductionTask({ program: s.snippet, input: s.input, output: s.output }), answer: i % 2 ? "'not it'" : s.output }));

let single: CodeExecutor;
let a: CodeExecutor;
let b: CodeExecutor;
before(async () => {
  [single, a, b] = await Promise.all([1, 2, 3].map(() => CodeExecutor.start({ workers: 1, warn: () => {} })));
});
after(async () => {
  await Promise.all([single, a, b].map((x) => x?.close()));
});

async function all<V extends { index: number }>(s: AsyncIterable<V>): Promise<V[]> {
  const out: V[] = [];
  for await (const v of s) out.push(v);
  return out.sort((x, y) => x.index - y.index);
}

/** The checks each replica was given, by replica. */
function counting(x: ExecutorPort, seen: number[][], r: number): ExecutorPort {
  return {
    validateProposals: (c) => (seen[r].push(c.length), x.validateProposals(c)),
    checkAnswers: (c, o) => (seen[r].push(c.length), x.checkAnswers(c, o)),
  };
}

test("executor pool - checks dealt round-robin, verdicts under the caller's indices, equal to one executor's", async () => {
  const seen: number[][] = [[], []];
  const pool = new ExecutorPool([{ name: executorName(0), port: counting(a, seen, 0) }, { name: executorName(1), port: counting(b, seen, 1) }]);
  const [pv, sv] = await Promise.all([all(pool.validateProposals(proposals)), all(single.validateProposals(proposals))]);
  assert.deepEqual(pv.map((v) => [v.index, v.ok, v.ok ? v.outputs : v.reason]), sv.map((v) => [v.index, v.ok, v.ok ? v.outputs : v.reason]));
  const [pa, sa] = await Promise.all([all(pool.checkAnswers(answers)), all(single.checkAnswers(answers))]);
  assert.deepEqual(pa.map((v) => [v.index, v.score]), sa.map((v) => [v.index, v.score]));
  assert.deepEqual(pa.map((v) => v.score > 0), answers.map((_, i) => i % 2 === 0), "the right answers where they were put");
  assert.deepEqual(seen, [[12, 12], [12, 12]], "24 checks, 12 to each replica, per call");
  assert.deepEqual([executorName(0), executorName(2)], ["code-executor", "code-executor-2"]);
});

test("executor pool - a failing replica ends the call naming it; resilient.ts retries each replica alone", async () => {
  const broken: ExecutorPort = {
    async *validateProposals() {
      throw new Error("sandbox gone");
    },
    async *checkAnswers() {
      throw new Error("sandbox gone");
    },
  };
  const pool = new ExecutorPool([{ name: "code-executor", port: a }, { name: "code-executor-1", port: broken }]);
  await assert.rejects(all(pool.validateProposals(proposals)), (e: Error) => e instanceof ExecutorReplicaError && /^code-executor-1\.validateProposals\(\) failed: sandbox gone/.test(e.message));
  // A replica that dies once (its process restarted by its agent) is re-opened alone; the call completes.
  let deaths = 0;
  const flaky: ExecutorPort = {
    validateProposals: (c) => (deaths++ === 0 ? (async function* () { throw new ActorDiedError("code-executor-1", "killed"); })() : b.validateProposals(c)),
    checkAnswers: (c, o) => b.checkAnswers(c, o),
  };
  const ports = resilientPorts({ executor: new ExecutorPool([{ name: "code-executor", port: a }, { name: "code-executor-1", port: flaky }]) } as unknown as DriverPorts, { log: () => {}, lastCheckpoint: () => "none" });
  const got = await all(ports.executor.validateProposals(proposals));
  assert.equal(got.length, proposals.length);
  assert.equal(deaths, 2, "the dead replica's stream was opened again");
});
