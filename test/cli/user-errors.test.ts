/**
 * What a user sees after a mistake on the command line: each `azr` command, run as a child
 * process, refuses bad input with one line that names the option or path and the fix, exit
 * code 2 and no stack trace or help screen — and before anything slow starts (no seeding, no
 * actors, no model load). Also the commands its messages point at (`azr recipes list`,
 * `azr recipes show <name>`) and `azr logs` of a run whose server is gone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const env = { ...process.env };
delete env.NATS_URL; // `azr web` / `azr logs` must find no live run

/** Runs `azr …`; the timeout (SIGINT: the CLI's own clean stop) keeps a regression that starts a run from hanging the suite. */
const azr = (...args: string[]) => azrWith(env, ...args);
const azrWith = (environment: NodeJS.ProcessEnv, ...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, env: environment, encoding: "utf8", timeout: 60_000, killSignal: "SIGINT" });

/** Exit code 2 and exactly the one message line(s), starting `azr <command>: `. */
function refused(r: ReturnType<typeof azr>, command: string, message: RegExp): void {
  assert.equal(r.status, 2, `exit code (stdout: ${r.stdout.slice(-500)}; stderr: ${r.stderr.slice(-1500)})`);
  assert.match(r.stderr, new RegExp(`^azr ${command}: `));
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  assert.doesNotMatch(r.stderr, /Options:/, "no help screen");
}

const tmp = mkdtempSync(join(tmpdir(), "azr-user-errors-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("recipes - `list` and `show <name>`, which recipe errors point at, exist", () => {
  const list = azr("recipes", "list");
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^tiny\s+ort\s+0 GPU/m);
  const show = azr("recipes", "show", "tiny", "--set", "selfplay.steps=3");
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /^selfplay\.steps = 3$/m);
  assert.match(show.stdout, /^trainer\.optimizer\.lr = [\d.e-]+$/m);
  refused(azr("recipes", "show", "bogus"), "recipes", /no such recipe; .*`azr recipes list`/);
});

test("selfplay - --steps is range-checked like --set, --resume needs an existing --run-dir", () => {
  const steps = azr("selfplay", "--steps", "-1");
  refused(steps, "selfplay", /selfplay\.steps: -1 is out of range/);
  assert.doesNotMatch(steps.stdout, /seed/, "refused before seeding");
  refused(azr("selfplay", "--resume"), "selfplay", /--resume continues the run in --run-dir: pass --run-dir/);
  const missing = join(tmp, "no-such-run");
  refused(azr("selfplay", "--resume", "--run-dir", missing), "selfplay", new RegExp(`run folder ${missing} does not exist`));
});

test("selfplay - --resume needs a run to continue, and a folder that holds one needs --resume; both refused before anything starts", () => {
  // An existing folder with no run in it (a mistyped parent, an empty folder): the driver would start a new run there.
  const empty = join(tmp, "empty-run");
  mkdirSync(empty, { recursive: true });
  const r = azr("selfplay", "--resume", "--run-dir", empty);
  refused(r, "selfplay", new RegExp(`--resume: ${empty} holds no run`));
  assert.doesNotMatch(r.stdout, /seed/, "refused before seeding");
  assert.ok(!existsSync(join(empty, "metrics.jsonl")) && !existsSync(join(empty, "nats")), "no run started in the folder");
  // A run stopped before its first checkpoint has nothing to resume from (the driver said "pass --resume", which was passed).
  const unsaved = join(tmp, "unsaved-run");
  mkdirSync(join(unsaved, "checkpoints", "step-2"), { recursive: true }); // a checkpoint cut off before its `complete` marker
  writeFileSync(join(unsaved, "metrics.jsonl"), '{"step":1}\n');
  refused(azr("selfplay", "--resume", "--run-dir", unsaved), "selfplay", /--resume: .*unsaved-run has no complete checkpoint/);
  // Without --resume, a folder holding a run is refused up front, not after every actor has started.
  const t0 = Date.now();
  refused(azr("selfplay", "--run-dir", unsaved), "selfplay", /unsaved-run already holds a run: pass --resume to continue it, or choose another --run-dir/);
  assert.ok(!existsSync(join(unsaved, "nats")), "no cluster started");
  assert.ok(Date.now() - t0 < 30_000);
});

test("selfplay, web - an unreachable NATS server is one line naming it, without a help screen or stack trace", async () => {
  // A port nothing listens on: taken from the system, then let go.
  const port = await new Promise<number>((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
  const url = `nats://127.0.0.1:${port}`;
  const unreachable = new RegExp(`cannot connect to NATS at ${url}: connection refused`);
  const run = join(tmp, "web-run");
  mkdirSync(run, { recursive: true });
  const web = azr("web", run, "--port", "0", "--nats", url);
  assert.equal(web.status, 1, web.stderr);
  assert.match(web.stderr, new RegExp(`^azr web: ${unreachable.source}`));
  assert.doesNotMatch(web.stderr, /\n\s+at |Options:/, "no stack trace or help screen");
  refused(azrWith({ ...env, NATS_URL: url }, "selfplay", "--steps", "1", "--run-dir", join(tmp, "unreachable-run")), "selfplay", unreachable);
});

test("eval - counts below their minimum and a missing --data file are refused", () => {
  const out = join(tmp, "eval.json");
  refused(azr("eval", "--model", "data/tiny", "--suite", "tiny", "--limit", "-1", "--out", out), "eval", /--limit must be a whole number ≥ 1, got -1/);
  refused(azr("eval", "--model", "data/tiny", "--suite", "tiny", "--batch-size", "0", "--out", out), "eval", /--batch-size must be a whole number ≥ 1/);
  const data = join(tmp, "no-such.jsonl");
  refused(azr("eval", "--model", "data/tiny", "--suite", "file", "--format", "cruxeval", "--data", data, "--out", out), "eval", new RegExp(`--data ${data}: no such file`));
  refused(azr("eval", "--model", "data/tiny", "--suite", "file", "--format", "cruxeval", "--data", tmp, "--out", out), "eval", /no such file/);
  refused(azr("eval", "--model", "data/tiny", "--suite", "tiny", "--limit", "1", "--proposals", "0", "--out", tmp), "eval", new RegExp(`--out ${tmp} is a folder: give the results file`));
});

test("model dump / model export - a folder without config.json or weights names the folder", () => {
  const empty = join(tmp, "empty");
  mkdirSync(empty, { recursive: true });
  refused(azr("model", "dump", empty, "--out", join(tmp, "g.onnx")), "model dump", new RegExp(`no config.json in ${empty}`));
  refused(azr("model", "export", join(tmp, "missing"), join(tmp, "o1")), "model export", /no config.json in/);
  const configOnly = join(tmp, "config-only");
  mkdirSync(configOnly, { recursive: true });
  cpSync(join(ROOT, "data", "tiny", "config.json"), join(configOnly, "config.json"));
  refused(azr("model", "export", configOnly, join(tmp, "o2")), "model export", new RegExp(`no weights in ${configOnly}`));
});

test("base-model - a missing corpus and half an anneal are one line each", () => {
  const noCorpus = join(tmp, "no-corpus");
  refused(azr("base-model", "--corpus", noCorpus, "--out", join(tmp, "bm"), "--work-dir", join(tmp, "bmw")), "base-model", new RegExp(`--corpus ${noCorpus}: corpus.jsonl and tokenizer.json missing`));
  const corpus = join(tmp, "corpus");
  mkdirSync(corpus, { recursive: true });
  for (const f of ["corpus.jsonl", "tokenizer.json"]) writeFileSync(join(corpus, f), "");
  refused(azr("base-model", "--corpus", corpus, "--anneal-to", "5", "--out", join(tmp, "bm"), "--work-dir", join(tmp, "bmw")), "base-model", /--anneal-from and --anneal-to go together/);
});

test("top - a refresh period that is not a number of milliseconds ≥ 10 is refused before connecting", () => {
  for (const bad of ["0", "-5", "abc"]) refused(azr("top", "--interval", bad), "top", /--interval .*: use a refresh period in milliseconds, at least 10/);
});

test("web - a run folder that does not exist, with no live run, is refused rather than served empty", () => {
  const missing = join(tmp, "no-such-run");
  refused(azr("web", missing, "--port", "0"), "web", new RegExp(`run folder ${missing} does not exist and no live run was found`));
});

test("web - a finished run (no live server) is served from its folder, said in one line that does not point at a --run-dir web has not got", async () => {
  const run = join(tmp, "finished-web-run");
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, "metrics.jsonl"), "");
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "web", run, "--port", "0"], { cwd: ROOT, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const served = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    child.stdout.on("data", () => /azr web: http:\/\//.test(stdout) && (clearTimeout(timer), resolve(true)));
  });
  child.kill("SIGINT");
  await new Promise((r) => child.once("exit", r));
  assert.ok(served, `served (stdout: ${stdout}; stderr: ${stderr})`);
  assert.equal(stderr, `azr web: no live run (${join(run, "nats.json")} is missing or its server has stopped, and NATS_URL is unset): showing the run folder only\n`);
  assert.doesNotMatch(stderr, /--run-dir/);
});

test("logs - past lines of a run whose server has stopped are read from its folder", () => {
  const run = join(tmp, "finished-run");
  mkdirSync(join(run, "logs"), { recursive: true });
  writeFileSync(join(run, "logs", "learner.log"), "2026-11-27T10:00:00.000Z [learner] first\n2026-11-27T10:00:01.000Z [learner] second\n");
  const r = azr("logs", "learner", "--run-dir", run, "-n", "1");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "2026-11-27T10:00:01.000Z [learner] second\n");
  // --tail abc printed every line and --tail -1 none, both silently.
  for (const bad of ["abc", "-1", "1.5"]) refused(azr("logs", "learner", "--run-dir", run, "-n", bad), "logs", /--tail .*: give a whole number of lines ≥ 0/);
});
