/**
 * `azr` pointed at a NATS server without JetStream (a plain `nats-server`, as many clusters run
 * it): the ops commands and `azr selfplay` say which server and what to do, in one line, instead
 * of the client's bare "jetstream is not enabled". A real nats-server with JetStream turned off.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useNatsServer } from "../helpers/nats.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const nats = useNatsServer({ extraConfig: "jetstream: disabled" });
const tmp = mkdtempSync(join(tmpdir(), "azr-nats-errors-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const azr = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000, killSignal: "SIGINT" });

test("a NATS server without JetStream - actors, web and selfplay name the server and the fix", () => {
  const env = { ...process.env };
  delete env.NATS_URL;
  const noJs = new RegExp(`the NATS server at ${nats.url} runs without JetStream, .*start it with -js`);
  for (const [command, r] of [
    [" actors", azr(env, "actors", "--nats", nats.url)],
    [" web", azr(env, "web", tmp, "--port", "0", "--nats", nats.url)],
    [" selfplay", azr({ ...env, NATS_URL: nats.url }, "selfplay", "--steps", "1", "--run-dir", join(tmp, "run"))],
  ] as const) {
    assert.notEqual(r.status, 0, `azr${command}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`^azr${command}: ${noJs.source}`, "m"));
    assert.doesNotMatch(r.stderr, /\n\s+at |Options:/, "no stack trace or help screen");
  }
});
