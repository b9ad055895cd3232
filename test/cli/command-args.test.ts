/**
 * Argument handling of `azr seed`, `azr model`, `azr base-model`, `azr doctor` and the CLI's option
 * parsing, as a user meets it: bad numbers, an output path that is a file or a folder, an option
 * given twice, an unknown subcommand, a broken Python, Ctrl-C while seeding. Each is one line
 * naming the thing and the fix (exit code 2, no stack trace, nothing started) or a clean stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDoctor } from "../../cli/commands/doctor.ts";
import { seed, SeedInterruptedError } from "../../cli/commands/seed.ts";
import { writeRandomTinyModel } from "../selfplay/fixtures.ts";
import { azrSync } from "../helpers/cli.ts";

/** Runs `azr …`; the timeout (SIGINT) keeps a regression that starts training from hanging the suite. */
const azr = (...args: string[]) => azrSync(args);

/** Exit code 2 and one message starting `azr <command>: `, without a stack trace or help screen. */
function refused(r: ReturnType<typeof azr>, command: string, message: RegExp): void {
  assert.equal(r.status, 2, `exit code (stdout: ${r.stdout.slice(-500)}; stderr: ${r.stderr.slice(-1500)})`);
  assert.match(r.stderr, new RegExp(`^azr ${command}: `));
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, "no stack trace");
  assert.doesNotMatch(r.stderr, /Options:/, "no help screen");
}

const tmp = mkdtempSync(join(tmpdir(), "azr-command-args-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const aFile = join(tmp, "a-file");
writeFileSync(aFile, "not a folder\n");
// A corpus folder that passes the files-present check: every refusal below must come before it is read.
const corpus = join(tmp, "corpus");
mkdirSync(corpus);
for (const f of ["corpus.jsonl", "tokenizer.json"]) writeFileSync(join(corpus, f), "");

test("base-model - numbers yargs lets through (NaN, negative, fractional, inconsistent) are refused before training", () => {
  const bm = (...args: string[]) => azr("base-model", "--corpus", corpus, "--out", join(tmp, "bm"), "--work-dir", join(tmp, "bmw"), ...args);
  refused(bm("--micro-batch", "0", "--max-steps", "5", "--warmup", "0"), "base-model", /--micro-batch 0: give a whole number ≥ 1/);
  refused(bm("--lr", "abc", "--max-steps", "5", "--warmup", "0"), "base-model", /--lr NaN: give a learning rate > 0/);
  refused(bm("--batch-tokens", "-5", "--max-steps", "5", "--warmup", "0"), "base-model", /--batch-tokens -5: give a whole number ≥ 1/); // trained "≤ -5 tokens" batches
  refused(bm("--epochs", "abc"), "base-model", /--epochs NaN/); // wrote a model after NaN steps
  refused(bm("--max-steps", "1.5"), "base-model", /--max-steps 1.5: give a whole number ≥ 0/);
  refused(bm("--threads", "abc", "--max-steps", "5", "--warmup", "0"), "base-model", /--threads NaN/);
  refused(bm("--max-steps", "5"), "base-model", /--warmup 100 must be below --max-steps 5/); // the trainer's stack trace
  refused(bm("--anneal-from", "150", "--anneal-to", "200", "--max-steps", "160"), "base-model", /--anneal-to 200 is past --max-steps 160/); // anneal silently skipped
  refused(bm("--anneal-from", "300", "--anneal-to", "200"), "base-model", /--anneal-from 300 must be below --anneal-to 200/);
  refused(bm("--engine", "torch", "--device", "bogus", "--max-steps", "5"), "base-model", /--device bogus: use cuda, cuda:N or cpu/);
});

test("base-model - an --out or --work-dir that is (under) a file is refused before training, not after it", () => {
  const args = ["base-model", "--corpus", corpus, "--max-steps", "5", "--warmup", "0"];
  refused(azr(...args, "--out", aFile, "--work-dir", join(tmp, "w1")), "base-model", new RegExp(`--out ${aFile}: ${aFile} is a file, not a folder`));
  refused(azr(...args, "--out", join(tmp, "o1"), "--work-dir", join(aFile, "sub")), "base-model", new RegExp(`--work-dir ${aFile}/sub: ${aFile} is a file`));
  assert.ok(!existsSync(join(tmp, "w1")) && !existsSync(join(tmp, "o1")), "nothing started");
});

test("any command - a one-value option given twice is refused by name (it arrived as an array and crashed); --set still repeats", () => {
  refused(azr("base-model", "--corpus", corpus, "--out", "a", "--out", "b"), "base-model", /--out was given 2 times \(a, b\); it takes one value/);
  refused(azr("model", "dump", "data/tiny", "--graph", "step", "--graph", "score"), "model dump", /--graph was given 2 times/);
  const show = azr("recipes", "show", "tiny", "--set", "selfplay.steps=3", "--set", "trainer.seed=4");
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /^selfplay\.steps = 3$/m);
  assert.match(show.stdout, /^trainer\.seed = 4$/m);
});

test("seed - --threads that is not a whole number, and an --out that is a file, are refused before seeding", () => {
  refused(azr("seed", "--threads", "abc", "--count", "1", "--out", join(tmp, "s1")), "seed", /--threads NaN: give a whole number ≥ 1/);
  assert.ok(!existsSync(join(tmp, "s1")));
  refused(azr("seed", "--count", "1", "--out", aFile), "seed", new RegExp(`--out ${aFile}: ${aFile} is a file, not a folder`));
  refused(azr("seed", "--count", "1", "--out", join(aFile, "x")), "seed", /is a file, not a folder/);
});

test("seed - a stop (Ctrl-C) ends seeding at once, writes nothing and removes the folder it made", { timeout: 300_000 }, async () => {
  const model = writeRandomTinyModel(3);
  const out = join(tmp, "seeds-new", "tiny");
  let stop!: (sig: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((r) => (stop = r));
  const lines: string[] = [];
  try {
    const t0 = Date.now();
    const run = seed({ recipe: "tiny", set: [`model.path=${model}`, "selfplay.batchSize=2", "data.maxResponseTokens=24", "seed.maxRounds=1000"], out, count: 500, threads: 1 }, (l) => {
      lines.push(l);
      if (/seeding triplets: round 1:/.test(l)) stop("SIGINT");
    }, stopped);
    await assert.rejects(run, (e: unknown) => e instanceof SeedInterruptedError && e.signal === "SIGINT" && /no seed file was written/.test(e.message));
    assert.ok(Date.now() - t0 < 120_000);
    assert.ok(!existsSync(out) && !existsSync(join(tmp, "seeds-new")), "the folders this run made are gone");
    assert.ok(lines.some((l) => /round 1:/.test(l)), lines.join("\n"));
  } finally {
    rmSync(model, { recursive: true, force: true });
  }
});

test("model - an --out folder, an output under a file, and an unknown subcommand are one line each", () => {
  refused(azr("model", "dump", "data/tiny", "--out", tmp), "model dump", new RegExp(`--out ${tmp} is a folder: give the .onnx file`));
  refused(azr("model", "dump", "data/tiny", "--out", join(aFile, "g.onnx")), "model dump", /a-file is a file, not a folder/);
  refused(azr("model", "export", "data/tiny", join(aFile, "out")), "model export", /a-file is a file, not a folder/);
  refused(azr("export", join(tmp, "no-run"), join(aFile, "out")), "export", /a-file is a file, not a folder/);
  // A parent folder that does not exist yet is made, as export does.
  const dumped = azr("model", "dump", "data/tiny", "--out", join(tmp, "new-folder", "g.onnx"));
  assert.equal(dumped.status, 0, dumped.stderr);
  assert.ok(existsSync(join(tmp, "new-folder", "g.onnx")));
  const bogus = azr("model", "bogus");
  assert.equal(bogus.status, 1);
  assert.match(bogus.stderr, /Unknown command: bogus/); // was "Not enough non-option arguments: got 0"
});

test("any command - a failure while running is printed once (its stack), exit code 1, not again as an uncaught exception", () => {
  // yargs hands the error to .fail() and also rejects parseAsync with it: unhandled, Node printed the stack a second time.
  const learner = join(tmp, "broken-checkpoint", "learner");
  mkdirSync(learner, { recursive: true });
  writeFileSync(join(learner, "config.json"), "{\n");
  const r = azr("export", learner, join(tmp, "broken-export"));
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.match(/^SyntaxError/gm)?.length, 1, `the error once:\n${r.stderr}`);
  assert.equal(r.stderr.match(/at readConfig/g)?.length, 1, `one stack:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /triggerUncaughtException|Node\.js v/, "not an uncaught exception");
});

test("doctor - an AZR_PYTHON that does not exist is said so, and the sandbox check points at it, not at bubblewrap", async () => {
  const saved = process.env.AZR_PYTHON;
  process.env.AZR_PYTHON = join(tmp, "no-such-python3");
  try {
    const checks = await runDoctor();
    const py = checks.find((c) => c.name === "python")!;
    assert.equal(py.ok, false);
    assert.equal(py.detail, `${join(tmp, "no-such-python3")} does not exist (AZR_PYTHON is set)`); // was "… failed: spawnSync … ENOENT"
    assert.match(py.fix!, /AZR_PYTHON/);
    const sandbox = checks.find((c) => c.name === "executor sandbox")!;
    assert.equal(sandbox.ok, false);
    assert.doesNotMatch(`${sandbox.detail} ${sandbox.fix}`, /bubblewrap|lstat/);
    assert.match(sandbox.fix!, /python check/);
  } finally {
    if (saved === undefined) delete process.env.AZR_PYTHON;
    else process.env.AZR_PYTHON = saved;
  }
});

test("doctor - an interpreter that fails says its exit code and last stderr line, not the probe script", async () => {
  const fake = join(tmp, "broken-python");
  writeFileSync(fake, "#!/bin/sh\necho 'fatal: broken install' >&2\nexit 3\n", { mode: 0o755 });
  const saved = process.env.AZR_PYTHON;
  process.env.AZR_PYTHON = fake;
  try {
    const py = (await runDoctor()).find((c) => c.name === "python")!;
    assert.equal(py.ok, false);
    assert.match(py.detail, /exit 3: fatal: broken install$/);
    assert.doesNotMatch(py.detail, /importlib|\n/, "one line, no echoed script");
  } finally {
    if (saved === undefined) delete process.env.AZR_PYTHON;
    else process.env.AZR_PYTHON = saved;
  }
});
