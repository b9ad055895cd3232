/**
 * runtime/logs.ts bounds: what an actor prints must never take the node agent down (a line over
 * NATS's max_payload, a full disk) nor grow its memory without bound (a line that never ends), and
 * what a bound leaves out (a flood over the live rate) is counted and said, not lost in silence.
 * Real nats-server; the disk-full case writes to /dev/full.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { useNatsServer } from "../helpers/nats.ts";
import { ActorLog, followLogs, MAX_LINE_CHARS, MAX_LIVE_LINES_PER_SEC, type LogLine } from "../../runtime/logs.ts";

let nc: NatsConnection;
const dirs: string[] = [];
describe("actor logs - bounds", () => {
  const nats = useNatsServer();
  before(async () => {
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function runDir(): string {
    const d = mkdtempSync(join(tmpdir(), "azr-logs-"));
    dirs.push(d);
    return d;
  }

  /** Follows `actor` on `cluster`, collecting lines until `until` holds or `ms` pass. */
  async function follow(cluster: string, actor: string) {
    const ac = new AbortController();
    const got: LogLine[] = [];
    const it = followLogs(nc, cluster, actor, ac.signal);
    const done = (async () => {
      for await (const l of it) got.push(l);
    })();
    await nc.flush();
    return {
      got,
      async until(pred: () => boolean, ms = 5000) {
        const end = Date.now() + ms;
        while (!pred() && Date.now() < end) await sleep(20);
        ac.abort();
        await done;
      },
    };
  }

  function fileLines(log: ActorLog): string[] {
    return readFileSync(log.file, "utf8").split("\n").filter(Boolean);
  }

  test("logs - a line over NATS's max_payload does not throw out of the agent: its head is kept and the cut said, in the file and live", async () => {
    const live = await follow("lb1", "w1");
    const log = new ActorLog(nc, "lb1", "w1", runDir(), false);
    const src = new PassThrough();
    log.pipe(src, "stdout");
    src.write("x".repeat(2 * 1024 * 1024) + "\nafter\n"); // 2 MiB: twice the server's default max_payload
    src.end();
    await live.until(() => live.got.some((l) => l.line === "after"));
    await log.close();
    const cutLine = live.got.find((l) => l.line.startsWith("xxx"));
    assert.ok(cutLine, "the long line's head arrives live");
    assert.match(cutLine.line, new RegExp(`x{${MAX_LINE_CHARS}} \\[azr: ${2 * 1024 * 1024 - MAX_LINE_CHARS} more characters of this line cut`));
    assert.deepEqual(live.got.map((l) => l.line.slice(0, 5)), ["xxxxx", "after"]);
    const lines = fileLines(log);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /\[w1\] x+ \[azr: \d+ more characters of this line cut/);
    assert.match(lines[1], /\[w1\] after$/);
  });

  test("logs - a line that never ends is held only up to the bound, and said when the stream ends", async () => {
    const log = new ActorLog(nc, "lb2", "w1", runDir(), false);
    const src = new PassThrough();
    log.pipe(src, "stderr");
    const chunk = "y".repeat(64 * 1024);
    for (let i = 0; i < 160; i++) src.write(chunk); // 10 MiB with no newline
    src.end();
    await new Promise((r) => src.on("end", r));
    await log.close();
    const lines = fileLines(log);
    assert.equal(lines.length, 1);
    assert.ok(lines[0].length < MAX_LINE_CHARS + 300, `the line kept is bounded (${lines[0].length} chars)`);
    assert.match(lines[0], new RegExp(`\\[azr: ${160 * 64 * 1024 - MAX_LINE_CHARS} more characters of this line cut`));
  });

  test("logs - binary garbage becomes lines with replacement characters, in the file and live", async () => {
    const live = await follow("lb3", "w1");
    const log = new ActorLog(nc, "lb3", "w1", runDir(), false);
    const src = new PassThrough();
    log.pipe(src, "stdout");
    src.write(Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0x80, 0x81, 0x0a]));
    src.write("ok\n");
    src.end();
    await live.until(() => live.got.some((l) => l.line === "ok"));
    await log.close();
    assert.equal(live.got.length, 3);
    assert.equal(fileLines(log).length, 3);
    assert.ok(live.got[0].line.includes("\ufffd"));
  });

  test("logs - a flood over the live rate: the file has every line, followers get the rate's worth and a count of the rest", async () => {
    const live = await follow("lb4", "w1");
    const log = new ActorLog(nc, "lb4", "w1", runDir(), false);
    const n = MAX_LIVE_LINES_PER_SEC * 3;
    for (let i = 0; i < n; i++) log.write("stdout", `line ${i}`);
    const notice = () => live.got.find((l) => /not sent live/.test(l.line));
    await live.until(() => notice() !== undefined, 5000);
    await log.close();
    const sent = live.got.filter((l) => l.line.startsWith("line ")).length;
    assert.ok(sent >= MAX_LIVE_LINES_PER_SEC && sent < n, `followers got ${sent} of ${n}`);
    assert.ok(notice(), "followers are told lines were left out");
    assert.match(notice()!.line, new RegExp(`^azr: ${n - sent} line\\(s\\) of this actor were not sent live .* they are in ${log.file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
    assert.equal(fileLines(log).filter((l) => / \[w1\] line \d+$/.test(l)).length, n, "the file has every line");
  });

  test("logs - a full disk does not kill the agent: lines go on live, and the failure is said once", async (t) => {
    const warned: string[] = [];
    t.mock.method(console, "warn", (s: string) => warned.push(s));
    const dir = runDir();
    mkdirSync(join(dir, "logs"));
    symlinkSync("/dev/full", join(dir, "logs", "w1.log")); // every write fails with ENOSPC
    const live = await follow("lb5", "w1");
    const log = new ActorLog(nc, "lb5", "w1", dir, false);
    log.write("stdout", "one");
    await sleep(100);
    log.write("stdout", "two");
    await live.until(() => live.got.some((l) => l.line === "two"));
    await log.close();
    assert.ok(live.got.some((l) => l.line === "one"));
    const said = live.got.filter((l) => /writing .*w1\.log failed \(.*ENOSPC.*\); this actor's lines from here on are only live/.test(l.line));
    assert.equal(said.length, 1, live.got.map((l) => l.line).join("\n"));
    assert.equal(warned.length, 1);
  });
});
