/**
 * `azr model export` and `azr export` stopped mid-write (Ctrl-C, SIGTERM) leave no hidden
 * `.<out>.partial-*` folder, and one left by an export killed outright is removed by the next export
 * to that folder (or, when its process cannot be proven gone, named with the command to remove it).
 * AZR_TEST_EXPORT_PAUSE_MS holds the complete partial folder before its rename, standing in for a
 * multi-GB write.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { randomWeights, saveModel } from "../../model/checkpoint.ts";
import { progressLine } from "../../cli/commands/model.ts";
import { smallConfigs } from "./fixtures.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "cli", "bin.ts");

const tmp = mkdtempSync(join(tmpdir(), "azr-export-interrupt-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, "model");
saveModel(model, smallConfigs.llama, randomWeights(smallConfigs.llama, 3));
writeFileSync(join(model, "tokenizer.json"), "{}"); // `azr export` takes the model folder as a learner folder, with its tokenizer

const partials = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`.${name}.partial-`));

for (const [command, sig] of [[["model", "export"], "SIGINT"], [["export"], "SIGTERM"]] as const) {
  test(`${command.join(" ")} - ${sig} while the folder is being written removes the partial folder and writes nothing`, { timeout: 60_000 }, async () => {
    const parent = join(tmp, `stop-${sig}`);
    mkdirSync(parent);
    const child = spawn(process.execPath, ["--import", "tsx", BIN, ...command, model, join(parent, "out")], {
      cwd: ROOT, env: { ...process.env, AZR_TEST_EXPORT_PAUSE_MS: "30000" }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
    const t0 = Date.now();
    // Mid-write: the partial folder exists and holds the config (written last but one), not yet renamed.
    while (!partials(parent, "out").some((p) => existsSync(join(parent, p, "config.json")))) {
      assert.ok(Date.now() - t0 < 30_000, `no partial folder appeared; stderr: ${stderr}`);
      assert.equal(child.exitCode, null, `the export ended before it could be interrupted; stderr: ${stderr}`);
      await sleep(20);
    }
    child.kill(sig);
    const { code } = await exited;
    assert.deepEqual(partials(parent, "out"), [], `the partial folder is removed; stderr: ${stderr}`);
    assert.ok(!existsSync(join(parent, "out")), "nothing was written to the destination");
    assert.equal(code, sig === "SIGINT" ? 130 : 143, `exit status 128 + the signal's number; stderr: ${stderr}`);
    assert.match(stderr, new RegExp(`stopped by ${sig}: nothing was written to ${join(parent, "out")}`));
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  });
}

test("model export - a partial folder of a dead export is removed by the next export to the same folder; others are named with the command to remove them", { timeout: 60_000 }, () => {
  const parent = join(tmp, "stale");
  mkdirSync(parent);
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!; // exited: its pid names no process
  const host = hostname().replace(/[^A-Za-z0-9.]/g, "_");
  const stale = join(parent, `.out.partial-${host}-${dead}-abc123`);
  const unknown = join(parent, ".out.partial-Xy12Zw"); // an earlier azr's name: its process is unknown
  for (const d of [stale, unknown]) {
    mkdirSync(join(d, "onnx"), { recursive: true });
    writeFileSync(join(d, "onnx", "model.onnx_data"), Buffer.alloc(1 << 16));
  }
  const r = spawnSync(process.execPath, ["--import", "tsx", BIN, "model", "export", model, join(parent, "out")], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(stale), `the dead export's partial folder is removed; stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`removed ${stale}, left by an export to .* that did not finish`));
  assert.ok(existsSync(unknown), "one it cannot prove dead is kept");
  assert.ok(r.stderr.includes(`rm -rf '${unknown}'`), r.stderr);
  assert.ok(existsSync(join(parent, "out", "onnx", "model.onnx")));
  assert.deepEqual(partials(parent, "out"), [".out.partial-Xy12Zw"]);
});

test("model export - the progress line: bytes written of the total, rate and ETA", () => {
  assert.equal(progressLine("model export", 2 ** 30, 4 * 2 ** 30, 10), "azr model export: 1.00 GB of 4.00 GB written (25%), 102 MB/s, ETA 0:30");
  assert.equal(progressLine("export", 0, 2 ** 30, 0), "azr export: 0 MB of 1.00 GB written (0%), 0 MB/s, ETA ?");
  assert.match(progressLine("export", 2 ** 20, 100 * 2 ** 30, 1), /ETA 28h26m$/);
});
