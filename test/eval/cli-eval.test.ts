/**
 * `azr eval` end to end on a small random model: greedy generation through the rollout engine,
 * scoring, the results table, and resume (a second run generates nothing new).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { writeRandomTinyModel } from "../selfplay/fixtures.ts";
import { evalplusPrompt } from "../../actors/eval/code-bench.ts";
import { codeProblems } from "../../actors/eval/items.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";
import { promptKey } from "../../actors/eval/runner.ts";
import { codePromptFor } from "../../actors/eval/suites.ts";

/** Gives a model folder's tokenizer a (minimal) chat template, as instruct and Qwen2.5 base models ship one. */
function writeChatTemplate(model: string): void {
  const file = join(model, "tokenizer_config.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  config.chat_template = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";
  writeFileSync(file, JSON.stringify(config));
}

const run = promisify(execFile);
const fixture = (n: string) => join(import.meta.dirname, "fixtures", n);

async function azr(args: string[], env: Record<string, string>): Promise<string> {
  const r = await run(process.execPath, ["--import", "tsx", "cli/bin.ts", "eval", ...args], { env: { ...process.env, ...env }, timeout: 120_000 });
  return r.stdout;
}

describe("azr eval with a random tiny model", () => {
  let model: string;
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    model = writeRandomTinyModel(3);
    dir = mkdtempSync(join(tmpdir(), "azr-eval-cli-"));
    env = { XDG_CACHE_HOME: join(dir, "cache") };
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  });

  it("--suite all --limit 1: a table with every benchmark, the averages, and a record per problem; a rerun resumes", async () => {
    const out = join(dir, "all.json");
    const args = ["--model", model, "--suite", "all", "--limit", "1", "--max-new-tokens", "6", "--batch-size", "4", "--workers", "1", "--out", out];
    const first = await azr(args, env);
    assert.match(first, /\[humaneval\+\] 1\/1 .*problems\/s .*pass@1 .*ETA/);
    assert.match(first, /Code Avg/);
    assert.match(first, /Total Avg/);
    const results = JSON.parse(readFileSync(out, "utf8"));
    assert.deepEqual(Object.keys(results.benchmarks), ["humaneval+", "mbpp+", "aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"]);
    assert.equal(results.codeAvg, 0, "a random model solves nothing");
    const records = readFileSync(out.replace(/\.json$/, ".problems.jsonl"), "utf8").trim().split("\n");
    assert.equal(records.length, 1 + 8, "the header (which model made them) and a record per problem");
    assert.match(records[0], /^\{"header":\{"model":/);
    const second = await azr(args, env);
    assert.match(second, /\[humaneval\+\] resuming: 1\/1 already scored/);
    assert.equal(readFileSync(out.replace(/\.json$/, ".problems.jsonl"), "utf8").trim().split("\n").length, 1 + 8, "nothing generated again");
  });

  it("--suite file --format cruxeval and --suite tiny score executor tasks", async () => {
    const crux = await azr(["--model", model, "--suite", "file", "--data", fixture("cruxeval.jsonl"), "--format", "cruxeval", "--max-new-tokens", "4", "--workers", "1", "--out", join(dir, "crux.json")], env);
    assert.match(crux, /cruxeval-o\s+2\s+0\.0/);
    assert.match(crux, /cruxeval-i\s+2\s+0\.0/);
    const tiny = await azr(["--model", model, "--suite", "tiny", "--data", fixture("heldout.jsonl"), "--max-new-tokens", "4", "--proposals", "1", "--workers", "1", "--out", join(dir, "tiny.json")], env);
    // Per task type beside the shipped baselines (data/tiny), then the proposal probe's rates.
    // The constant-answer baseline printed is the shipped set's (data/tiny/heldout-baselines.json), not the fixture's.
    const shipped = JSON.parse(readFileSync("data/tiny/heldout-baselines.json", "utf8")) as { baselines: { constant: { deduction: { accuracy: number } } } };
    const constant = (100 * shipped.baselines.constant.deduction.accuracy).toFixed(1).replace(".", "\\.");
    assert.match(tiny, new RegExp(`deduction\\s+1\\s+0\\.0 \\[0\\.0, 0\\.0\\]\\s+${constant} \\[`));
    assert.match(tiny, /induction\s+valid 0\/1 \(0\.0%\)/);
    const saved = JSON.parse(readFileSync(join(dir, "tiny.json"), "utf8"));
    assert.equal(saved.tiny.proposals.abduction.total, 1);
    // --samples k: the greedy verdicts come from the records (nothing generated again), then k samples a task
    const sampled = await azr(["--model", model, "--suite", "tiny", "--data", fixture("heldout.jsonl"), "--max-new-tokens", "4", "--proposals", "0", "--samples", "2", "--workers", "1", "--out", join(dir, "tiny.json")], env);
    assert.match(sampled, /resuming: 3\/3 already scored/);
    assert.match(sampled, /2 samples a task at temperature 1 \(top-p 1\)/);
    assert.match(sampled, /^ {2}deduction\s+0\.0\s+0\.0\s+0\.0\s+0\.0\s+0\.0\s+\d+\.\d\d$/m);
    const withSamples = JSON.parse(readFileSync(join(dir, "tiny.json"), "utf8"));
    assert.deepEqual(Object.keys(withSamples.tiny.samples.byType), ["deduction", "abduction", "induction"]);
    assert.equal(withSamples.tiny.samples.byType.induction.tasks, 1);
  });

  it("resume never reuses stale records: another model is refused, another token budget is generated again; a checkpoint folder is a model", async () => {
    const out = join(dir, "stale.json");
    const records = () => readFileSync(out.replace(/\.json$/, ".problems.jsonl"), "utf8").trim().split("\n");
    const args = (m: string, maxNew: string, o = out) => ["--model", m, "--suite", "file", "--data", fixture("cruxeval.jsonl"), "--format", "cruxeval", "--limit", "1", "--max-new-tokens", maxNew, "--workers", "1", "--out", o];
    await azr(args(model, "4"), env);
    assert.equal(records().length, 3, "a header and one record per problem");
    const other = writeRandomTinyModel(4);
    try {
      await assert.rejects(azr(args(other, "4"), env), (e: { code: number; stderr: string }) => e.code === 2 && /was made with another model, weights/.test(e.stderr));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    const again = await azr(args(model, "5"), env);
    assert.match(again, /\[cruxeval-o\] 1 earlier records were made with another prompt or token budget: generating them again/);
    assert.equal(records().length, 5);
    assert.doesNotMatch(await azr(args(model, "5"), env), /generating them again/);
    assert.equal(records().length, 5, "the regenerated records are reused");

    // A self-play checkpoint (step-N with learner/): exported once, then evaluated; its newer weights are another model.
    const step = join(dir, "run", "checkpoints", "step-1");
    mkdirSync(join(step, "learner"), { recursive: true });
    for (const f of readdirSync(model)) copyFileSync(join(model, f), join(step, "learner", f));
    writeFileSync(join(step, "complete"), "");
    const ck = join(dir, "ck.json");
    assert.match(await azr(args(step, "4", ck), env), /exported .*learner/);
    const newer = writeRandomTinyModel(5);
    try {
      copyFileSync(join(newer, "model.safetensors"), join(step, "learner", "model.safetensors"));
    } finally {
      rmSync(newer, { recursive: true, force: true });
    }
    await assert.rejects(azr(args(step, "4", ck), env), /was made with another/);
  });

  it("a touched model is the same model: its records are resumed, not refused", async () => {
    const out = join(dir, "touched.json");
    const args = ["--model", model, "--suite", "file", "--data", fixture("cruxeval.jsonl"), "--format", "cruxeval", "--limit", "1", "--max-new-tokens", "4", "--workers", "1", "--out", out];
    await azr(args, env);
    const later = new Date(Date.now() + 3_600_000);
    for (const f of readdirSync(model)) utimesSync(join(model, f), later, later);
    assert.match(await azr(args, env), /\[cruxeval-o\] resuming: 1\/1 already scored/);
  });

  it("--code-prompt evalplus gives a model with a chat template EvalPlus's chat prompt, as EvalPlus does", async () => {
    const chat = writeRandomTinyModel(3);
    try {
      writeChatTemplate(chat);
      const out = join(dir, "evalplus-chat.json");
      const args = ["--model", chat, "--suite", "code", "--code-prompt", "evalplus", "--limit", "1", "--max-new-tokens", "2", "--workers", "1", "--out", out];
      await azr(args, env);
      const [problem] = codeProblems(benchmarksDir(), 1);
      const made = readFileSync(out.replace(/\.json$/, ".problems.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id?: string; prompt?: string }).find((r) => r.id === problem.id);
      const asChat = promptKey({ prompt: codePromptFor(problem, { codePrompt: "evalplus", mathTemplate: "azr", chatTemplate: true }), maxNewTokens: 2 });
      assert.equal(made?.prompt, asChat, "the record was made with EvalPlus's chat prompt");
      assert.match(JSON.parse(readFileSync(out, "utf8")).codePrompt, /^evalplus chat prompt/);
      // EvalPlus's --force-base-prompt: the completion prompt again
      const base = join(dir, "evalplus-base.json");
      await azr([...args.slice(0, -1), base, "--evalplus-base-prompt"], env);
      const again = readFileSync(base.replace(/\.json$/, ".problems.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id?: string; prompt?: string }).find((r) => r.id === problem.id);
      assert.equal(again?.prompt, promptKey({ prompt: { kind: "text", text: evalplusPrompt(problem) }, maxNewTokens: 2 }));
    } finally {
      rmSync(chat, { recursive: true, force: true });
    }
  });

  it("--suite tiny reports only this run's tasks: not those of a larger earlier run, nor records of another token budget", async () => {
    const out = join(dir, "tiny-mix.json");
    const args = (maxNew: string, ...more: string[]) => ["--model", model, "--suite", "tiny", "--data", fixture("heldout.jsonl"), "--max-new-tokens", maxNew, "--proposals", "0", "--workers", "1", "--out", out, ...more];
    await azr(args("4"), env); // all three tasks (one of each type), with a budget of 4
    await azr(args("5", "--limit", "1"), env); // the first task (deduction) only, made again with a budget of 5
    const acc = (JSON.parse(readFileSync(out, "utf8")) as { tiny: { accuracy: Record<string, { total: number }> } }).tiny.accuracy;
    assert.deepEqual([acc.deduction.total, acc.abduction.total, acc.induction.total], [1, 0, 0]);
  });

  it("names what is missing", async () => {
    await assert.rejects(azr(["--model", join(dir, "nope"), "--suite", "code"], env), /no model at .*config\.json missing/);
    await assert.rejects(azr(["--model", model, "--suite", "file"], env), /--suite file needs --data/);
  });
});
