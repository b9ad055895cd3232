/**
 * The run's web view: the page and its script are served; the JSON endpoints the page polls
 * report the live actors and NATS figures and the run folder's metrics.jsonl (incrementally,
 * a half-written last line held back until it is whole) and latest samples.
 * (The page in a real browser: web-browser.test.ts.)
 */
import { strict as assert } from "node:assert";
import { appendFileSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Script } from "node:vm";
import { after, describe, test } from "node:test";
import { CONTENT_SECURITY_POLICY, isLoopbackHost, startWebView, type WebView } from "../../cli/web/server.ts";
import type { TopSnapshot } from "../../cli/commands/top.ts";
import { Greeter } from "./fixtures/actors.ts";
import { useOpsCluster } from "./helpers.ts";

function stepLine(step: number): string {
  const g = (reward: number, extra: object) => ({ count: 4, rewardMean: reward, formatRate: 1, responseLength: { mean: 40 + step, max: 60, min: 20 }, clipRatio: 0, reflectionShare: 0, ...extra });
  return JSON.stringify({
    time: new Date(Date.UTC(2026, 10, 26, 10, step)).toISOString(),
    step,
    groups: {
      "propose/deduction": g(0.1 * step, { validRate: 0.5 + 0.1 * step }),
      "solve/deduction": g(0.2 * step, { accuracy: 0.25 * step }),
    },
    train: { step, loss: 1 / step, gradNorm: 1, lr: 1e-4, tokens: 100, terms: {} },
    bufferSizes: { deduction: 10 + step },
    seconds: { propose: 1, solve: 2 },
    samples: [{ type: "deduction", program: `def f(x):\n    return x + ${step}`, verdict: "valid", solveRate: 0.5 }],
  });
}

describe("web view", () => {
  const t = useOpsCluster("t-web");
  let view: WebView | undefined;
  after(() => view?.close());
  const get = async (path: string) => {
    const r = await fetch(new URL(path, view!.url));
    return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
  };

  test("page - index.html and app.js are served; unknown paths are 404", async () => {
    await t.cluster.spawn(Greeter, [], { name: "wv" });
    view = await startWebView({ runDir: t.runDir, cluster: t.cluster, monitorUrl: t.server.monitorUrl });
    const [page, js, missing] = await Promise.all([get("/"), get("/app.js"), get("/nope")]);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.text, /<script src="app.js"><\/script>/);
    assert.match(page.text, /id="actors"/);
    assert.equal(js.status, 200);
    assert.match(js.type, /javascript/);
    assert.match(js.text, /api\/top/);
    assert.doesNotThrow(() => new Script(js.text, { filename: "app.js" }), "the page's script parses");
    assert.equal(missing.status, 404);
  });

  test("security headers - every answer carries a strict CSP, nosniff and no framing; the page needs nothing the CSP forbids", async () => {
    // Not /api/top: its answer is cached for a moment, and the /api/top test below wants a fresh one.
    const paths = ["/", "/app.js", "/app.css", "/favicon.ico", "/api/samples", "/api/metrics", "/nope"];
    const answers = await Promise.all(paths.map((p) => fetch(new URL(p, view!.url))));
    for (const [i, r] of answers.entries()) {
      await r.arrayBuffer();
      const csp = r.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/, `${paths[i]}: CSP ${JSON.stringify(csp)}`);
      assert.match(csp, /script-src 'self'(;|$)/, `${paths[i]}: scripts from this server only`);
      assert.match(csp, /style-src 'self'(;|$)/, `${paths[i]}: styles from this server only`);
      assert.match(csp, /connect-src 'self'(;|$)/, `${paths[i]}: fetches to this server only`);
      assert.match(csp, /frame-ancestors 'none'/, `${paths[i]}: not framed`);
      assert.doesNotMatch(csp, /unsafe-|data:|\*/, `${paths[i]}: nothing loosened`);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", paths[i]);
      assert.equal(r.headers.get("x-frame-options"), "DENY", paths[i]);
    }
    assert.deepEqual(answers.slice(0, 4).map((r) => r.status), [200, 200, 200, 204]);
    assert.match(answers[2].headers.get("content-type") ?? "", /^text\/css/);
    assert.equal(answers[0].headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    // What a strict CSP would silently break: inline script or style, style attributes, data: URLs, eval.
    const [page, js] = await Promise.all([get("/"), get("/app.js")]);
    assert.doesNotMatch(page.text, /<style|<script(?![^>]*\ssrc=)|\sstyle=|\son[a-z]+=|data:/i, "index.html has no inline script, style or data: URL");
    assert.doesNotMatch(js.text, /\beval\(|new Function|innerHTML|outerHTML|insertAdjacentHTML|setAttribute\(\s*"style"|data:/, "app.js builds the DOM as text, without eval or inline styles");
  });

  test("DNS rebinding - a loopback view answers loopback Host names only", async () => {
    const { request } = await import("node:http");
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(view!.url);
        request({ host: u.hostname, port: u.port, path: "/app.js", headers: { host } }, (r) => (r.resume(), resolve(r.statusCode ?? 0))).on("error", reject).end();
      });
    const port = new URL(view!.url).port;
    assert.deepEqual(await Promise.all([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "localhost"].map(status)), [200, 200, 200, 200]);
    assert.deepEqual(await Promise.all([`evil.example:${port}`, "127.0.0.1.evil.example"].map(status)), [403, 403], "another name pointed at 127.0.0.1 reads nothing");
    assert.equal(isLoopbackHost(undefined), false);
    assert.equal(isLoopbackHost("[::1]:8265"), true);
    assert.equal(isLoopbackHost("localhost.:1"), false);
  });

  test("port taken - a second view on the same port says so and how to fix it", async () => {
    const port = Number(new URL(view!.url).port);
    await assert.rejects(startWebView({ runDir: t.runDir, port }), /cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\): pass another --port/);
  });

  test("/api/top - the live actors with their figures, and the NATS server's", async () => {
    const wv = await t.cluster.getActor<Greeter>("wv");
    await wv.greet("web");
    const top = JSON.parse((await get("/api/top")).text) as TopSnapshot;
    const row = top.actors.find((a) => a.name === "wv");
    assert.equal(row?.state, "alive");
    assert.ok(row?.stats && row.stats.calls >= 1);
    assert.ok(row?.process && row.process.rss > 0);
    assert.ok(top.nats.figures && top.nats.figures.connections >= 2, `NATS: ${top.nats.error}`);
  });

  test("/api/metrics and /api/samples - the run's steps, read incrementally", async () => {
    const file = join(t.runDir, "metrics.jsonl");
    writeFileSync(file, [stepLine(1), stepLine(2), stepLine(3)].join("\n") + "\n");
    const partial = stepLine(4);
    appendFileSync(file, partial.slice(0, 50)); // the driver is mid-write
    const all = JSON.parse((await get("/api/metrics")).text);
    assert.equal(all.next, 3, "the half-written line is held back");
    assert.deepEqual(all.steps.map((s: { step: number }) => s.step), [1, 2, 3]);
    assert.equal(all.steps[1].groups["solve/deduction"].accuracy, 0.5);
    assert.equal(all.steps[2].groups["propose/deduction"].validRate, 0.5 + 0.1 * 3);
    assert.equal(all.steps[0].train.loss, 1);
    assert.equal("samples" in all.steps[0], false, "samples are served on their own");
    appendFileSync(file, partial.slice(50) + "\n");
    const more = JSON.parse((await get("/api/metrics?from=3")).text);
    assert.equal(more.next, 4);
    assert.deepEqual(more.steps.map((s: { step: number }) => s.step), [4]);
    const samples = JSON.parse((await get("/api/samples")).text);
    assert.equal(samples.step, 4);
    assert.equal(samples.samples[0].program, "def f(x):\n    return x + 4");
    assert.equal(samples.samples[0].verdict, "valid");
  });

  test("/api/metrics - a failed in-training evaluation is served as evalError; lines that are not a step's object answer as empty steps", async () => {
    const file = join(t.runDir, "metrics.jsonl");
    const failed = { ...JSON.parse(stepLine(2)), evalError: "scorer lost" };
    writeFileSync(file, [stepLine(1), JSON.stringify(failed), "null", "{not json", "7", stepLine(6)].join("\n") + "\n");
    const r = await get("/api/metrics");
    assert.equal(r.status, 200, r.text);
    const m = JSON.parse(r.text);
    assert.equal(m.next, 6);
    assert.equal(m.steps[1].evalError, "scorer lost");
    assert.deepEqual(m.steps.map((s: { step: number | null }) => s.step), [1, 2, null, null, null, 6]);
    assert.equal(JSON.parse((await get("/api/samples")).text).step, 6);
  });

  test("/api/metrics and /api/samples - a file larger than a string can hold is still read (a poll reads what was appended, not the whole file)", { timeout: 60_000 }, async () => {
    const dir = join(t.runDir, "large");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "metrics.jsonl");
    // 600 MiB of NUL bytes (a hole: nothing is written to disk) standing for a long run's lines,
    // or for the zeros a crash can leave in a file; V8's strings end at 512 MiB.
    writeFileSync(file, "");
    truncateSync(file, 600 * 2 ** 20);
    appendFileSync(file, "\n" + stepLine(1) + "\n");
    const large = await startWebView({ runDir: dir });
    try {
      const get2 = async (path: string) => {
        const r = await fetch(new URL(path, large.url));
        return { status: r.status, text: await r.text() };
      };
      const all = await get2("/api/metrics");
      assert.equal(all.status, 200, all.text.slice(0, 300));
      const m = JSON.parse(all.text);
      assert.equal(m.next, 2);
      assert.deepEqual(m.steps.map((s: { step: number | null }) => s.step), [null, 1], "the NUL line is no step; the step after it is read");
      appendFileSync(file, stepLine(2) + "\n");
      const more = JSON.parse((await get2("/api/metrics?from=2")).text);
      assert.deepEqual([more.next, more.steps.map((s: { step: number }) => s.step)], [3, [2]]);
      const samples = await get2("/api/samples");
      assert.equal(samples.status, 200, samples.text.slice(0, 300));
      assert.equal(JSON.parse(samples.text).step, 2);
    } finally {
      await large.close();
    }
  });

  test("/api/metrics - a file rewritten in place (a resume keeps the lines up to its checkpoint) is read again from its start", async () => {
    const file = join(t.runDir, "metrics.jsonl");
    const l3 = stepLine(3);
    writeFileSync(file, [stepLine(1), stepLine(2), l3].join("\n") + "\n");
    assert.equal(JSON.parse((await get("/api/metrics")).text).next, 3);
    // Rewritten and grown past its old size before the next poll; a new line ends where line 3 did.
    const a = JSON.stringify({ step: 4 });
    const pad = JSON.stringify({ pad: "x".repeat(l3.length - a.length - 1 - '{"pad":""}'.length) });
    writeFileSync(file, [stepLine(1), stepLine(2), a, pad, stepLine(5)].join("\n") + "\n");
    const m = JSON.parse((await get("/api/metrics")).text);
    assert.deepEqual([m.next, m.steps.map((s: { step: number | null }) => s.step)], [5, [1, 2, 4, null, 5]]);
  });

  test("/api/top - NATS rates are the current ones, not averaged over a long gap between polls", { timeout: 30_000 }, async () => {
    await get("/api/top");
    const nc = t.cluster.nc;
    for (let i = 0; i < 5000; i++) nc.publish("t-web.burst", "x".repeat(100));
    await nc.flush();
    await new Promise((r) => setTimeout(r, 5_500)); // quiet since the burst, and no page polled
    const top = JSON.parse((await get("/api/top")).text) as TopSnapshot;
    assert.ok(top.nats.rates, "rates are shown");
    // Averaged over the gap they would be about 5000 / 5.5 s ≈ 900 msgs/s.
    assert.ok(top.nats.rates.inMsgsPerSec < 300, `msgs in /s: ${top.nats.rates.inMsgsPerSec}`);
  });
});
