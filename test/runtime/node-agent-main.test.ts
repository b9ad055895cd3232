/**
 * The standalone node agent (`runtime/node-agent-main.ts`, the README's recipe for several
 * machines) on bad input: --help shows its options; a mistyped flag, a bad value or name, a
 * NATS_URL where nothing listens and a server without JetStream are each one line on stderr
 * naming the fix (exit 2 for the command line, 1 for the server), not a Node stack trace. Real
 * nats-servers (one with JetStream disabled).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { useNatsServer } from "../helpers/nats.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const noJs = useNatsServer({ extraConfig: "jetstream: disabled" });

const agent = (env: NodeJS.ProcessEnv, ...args: string[]) => {
  const base = { ...process.env };
  delete base.NATS_URL;
  return spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "runtime", "node-agent-main.ts"), ...args], {
    cwd: ROOT, env: { ...base, ...env }, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL",
  });
};

function oneLine(r: ReturnType<typeof agent>, status: number, line: RegExp, what: string): void {
  assert.equal(r.status, status, `${what}: exit ${r.status}, stderr: ${r.stderr}`);
  assert.match(r.stderr, line, what);
  assert.doesNotMatch(r.stderr, /\n\s+at |\^\n/, `${what}: no stack trace, got: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line, got: ${r.stderr}`);
}

test("node-agent-main --help lists its options and says which cluster azr selfplay uses", () => {
  const r = agent({}, "--help");
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ["--cluster", "--id", "--cpu", "--gpu", "--label", "--run-dir", "--shell", "NATS_URL"]) assert.match(r.stdout, new RegExp(flag), flag);
  assert.match(r.stdout, /azr selfplay runs in cluster 'azr'/);
});

test("node-agent-main: bad flags, values and names are one line, exit 2, before connecting", () => {
  const url = { NATS_URL: "nats://127.0.0.1:1" }; // never reached: the command line is checked first
  oneLine(agent(url, "--clster", "x"), 2, /^node agent: Unknown option '--clster'/, "unknown option");
  oneLine(agent(url, "--cpu", "lots"), 2, /^node agent: --cpu must be a non-negative number, got 'lots'/, "--cpu");
  oneLine(agent(url, "--label", "zone"), 2, /^node agent: --label must be key=value/, "--label");
  oneLine(agent(url, "--cluster", "my.cluster"), 2, /^node agent: invalid cluster name 'my.cluster'/, "--cluster");
  oneLine(agent(url, "--id", "node 1"), 2, /^node agent: invalid node name 'node 1'/, "--id");
});

test("node-agent-main: an unreachable NATS_URL and a server without JetStream name the server and the fix", () => {
  oneLine(agent({ NATS_URL: "nats://127.0.0.1:1" }, "--id", "n1"), 1,
    /^node agent: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: connection refused: .*check NATS_URL/, "unreachable");
  oneLine(agent({ NATS_URL: noJs.url }, "--id", "n1"), 1,
    new RegExp(`^node agent: the NATS server at ${noJs.url} runs without JetStream, .*start it with -js`), "no JetStream");
});
