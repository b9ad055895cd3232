/**
 * A boolean flag given a value (`azr doctor --json=foo`) was read by yargs as false, so doctor
 * printed text without a word. Refused, for every command's flags (cli/main.ts): one line naming
 * the flag, exit code 2, before the command runs. `--json=true` / `--json=false` stay yargs's own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const env = { ...process.env };
delete env.NATS_URL;
const azr = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000, killSignal: "SIGINT" });

test("doctor --json=foo is refused (one line, exit code 2); --json=false still prints text", () => {
  const r = azr("doctor", "--json=foo");
  assert.equal(r.status, 2, `exit code (stdout: ${r.stdout.slice(-500)}; stderr: ${r.stderr})`);
  assert.equal(r.stderr, "azr doctor: --json is a flag and takes no value (got --json=foo): give --json alone, or leave it out\n");
  assert.equal(r.stdout, "", "the checks did not run");
  // Another command's flag, with no server or file needed: refused the same way.
  const logs = azr("logs", "w1", "--follow=maybe", "--run-dir", join(ROOT, "no-such-run"));
  assert.equal(logs.status, 2, logs.stderr);
  assert.match(logs.stderr, /^azr logs: --follow is a flag and takes no value \(got --follow=maybe\)/);
  const off = azr("doctor", "--json=false");
  assert.doesNotMatch(off.stderr, /takes no value/);
  assert.match(off.stdout, /^(ok  |FAIL)  nats/m, "text, as without --json");
});
