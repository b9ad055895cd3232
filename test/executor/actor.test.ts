/** The code-executor actor on a real nats-server: verdicts stream back as events, then stats. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CodeExecutorActor, verdictStreams, type ExecutorEvent } from "../../actors/code-executor/actor.ts";
import { deductionTask, type CallStats, type ProposalVerdict } from "../../actors/code-executor/index.ts";
import { useCluster } from "../runtime/helpers.ts";

const t = useCluster("t-code-executor");

test("actor - validateProposals streams verdict events then the call's stats; checkAnswers judges; verdictStreams unwraps", async () => {
  const actor = new CodeExecutorActor({ workers: 1, limits: { timeoutMs: 3000 } });
  const h = await t.cluster.serve(actor, { name: "code-executor", concurrent: ["validateProposals", "checkAnswers", "stats", "isolation"] });
  try {
    const events: ExecutorEvent<ProposalVerdict>[] = [];
    for await (const e of h.validateProposals([
      { type: "deduction", program: "def f(a):\n    return a * 3", input: "'ab'" },
      { type: "abduction", program: "def f(a):\n    return a[5]", input: "[1]" },
    ])) events.push(e);
    assert.equal(events.length, 3);
    const verdicts = events.flatMap((e) => (e.type === "verdict" ? [e.verdict] : [])).sort((a, b) => a.index - b.index);
    assert.deepEqual(verdicts.map((v) => v.reason), ["valid", "exception"]);
    assert.deepEqual(verdicts[0].outputs, ["'ababab'"]);
    const done = events[2];
    assert.ok(done.type === "done" && done.stats.tasks === 2 && done.stats.byReason.valid === 1);

    const answers = [];
    for await (const e of h.checkAnswers([{ task: deductionTask({ program: "", input: "", output: "[1, 2]" }), answer: "[1, 2.0]" }])) answers.push(e);
    assert.ok(answers[0].type === "verdict" && answers[0].verdict.reason === "correct");
    assert.equal((await h.isolation()).bubblewrap, true);

    // The self-play driver's view of the same handle: plain verdicts, the call's stats on the side.
    const seen: [string, CallStats][] = [];
    const port = verdictStreams(h, (m, s) => seen.push([m, s]));
    const plain: ProposalVerdict[] = [];
    for await (const v of port.validateProposals([{ type: "deduction", program: "def f(a):\n    return -a", input: "4" }])) plain.push(v);
    assert.deepEqual(plain.map((v) => [v.reason, v.outputs]), [["valid", ["-4"]]]);
    assert.deepEqual(seen.map(([m, s]) => [m, s.tasks]), [["validateProposals", 1]]);
    assert.ok((await h.stats()).tasks >= 3);
  } finally {
    await actor.close();
  }
});
