/**
 * The start-up `azr selfplay` and `azr seed` share (cli/commands/recipe-setup.ts): a recipe that
 * cannot run here stops the command before any actor starts, naming the problem and its fix,
 * with exit code 2 and no stack trace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const azr = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, encoding: "utf8" });

test("recipe setup - a missing model stops selfplay and seed with the fix, exit code 2, no stack trace", () => {
  for (const command of ["selfplay", "seed"]) {
    const r = azr(command, "--recipe", "tiny", "--set", "model.path=/nonexistent/azr-model");
    assert.equal(r.status, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^azr ${command}: recipe 'tiny' cannot start here:\\n[^]*/nonexistent/azr-model[^]*fix: `));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
