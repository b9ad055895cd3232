/**
 * The ops commands' refusals read like every other command's: one line starting `azr <command>: `,
 * exit code 2, no help screen or stack trace — for no live run where they were told to look, and
 * for `azr kill` / `azr restart` without the actor's name (was yargs' help screen and "Not enough
 * non-option arguments"). No server is needed: each is refused before any connection.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { azrSync } from "../helpers/cli.ts";

const tmp = mkdtempSync(join(tmpdir(), "azr-ops-refusals-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const azr = (...args: string[]) => azrSync(args);

function refused(r: ReturnType<typeof azr>, command: string, message: RegExp): void {
  assert.equal(r.status, 2, `azr ${command}: exit code (stdout: ${r.stdout.slice(-500)}; stderr: ${r.stderr.slice(-1500)})`);
  assert.match(r.stderr, new RegExp(`^azr ${command}: `), `azr ${command}: named first`);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Options:|Not enough non-option arguments/, "no stack trace or help screen");
}

test("actors, nodes, kill, restart, top - no live run: `azr <command>: no live run found …`, exit code 2", () => {
  const runDir = join(tmp, "no-run");
  for (const args of [["actors"], ["nodes"], ["kill", "w1"], ["restart", "w1"], ["top", "--once"]]) {
    refused(azr(...args, "--run-dir", runDir), args[0], new RegExp(`no live run found: NATS_URL is unset and ${join(runDir, "nats.json")} is missing`));
  }
});

test("kill, restart - without the actor's name: one line naming what is missing, exit code 2", () => {
  refused(azr("kill"), "kill", /name the actor to kill: azr kill <actor> \(`azr actors` lists them\)/);
  refused(azr("restart"), "restart", /name the actor to restart: azr restart <actor> \(`azr actors` lists them\)/);
});
