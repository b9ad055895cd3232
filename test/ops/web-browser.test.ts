/**
 * The run's web view in a real browser: a live cluster with actor processes, the view serving
 * it, and Debian's chromium (headless, driven by playwright-core) loading the page. Checks that
 * the page's script runs and fills the actors table with the live actors, the NATS figures and
 * the curves, with no script error; saves a screenshot.
 *
 * The screenshot goes to the run's temp folder; with AZR_UPDATE_DOCS=1 it is written to
 * docs/web-view.png (the README's picture) instead, so ordinary test runs leave the tree clean.
 * The curves come from metrics lines this test writes (six steps, all six task groups); the
 * actors and NATS figures are live. Skipped, saying so, only when chromium is not installed.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { startWebView, type WebView } from "../../cli/web/server.ts";
import { Greeter, Relay } from "./fixtures/actors.ts";
import { useOpsCluster } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const SKIP = existsSync(CHROMIUM) ? false : `Debian chromium is not installed (${CHROMIUM}): \`make setup\` installs it (apt-get install -y chromium)`;
const DOCS_SHOT = fileURLToPath(new URL("../../docs/web-view.png", import.meta.url));
const GROUPS = ["deduction", "abduction", "induction"];
/** Step 6's failed evaluation; markup in it must show as text, never become elements. */
const EVAL_ERROR = 'scorer lost: <img src="x" id="injected">';

/** A metrics.jsonl line shaped like the driver's, with smooth made-up curves. */
function stepLine(step: number): string {
  const groups: Record<string, object> = {};
  GROUPS.forEach((type, i) => {
    const g = (reward: number, len: number, extra: object) => ({ count: 8, rewardMean: reward, formatRate: 1, responseLength: { mean: len, max: len + 30, min: len - 20 }, clipRatio: 0, reflectionShare: 0, ...extra });
    const p = 1 - Math.exp(-(step + i) / 4);
    groups[`propose/${type}`] = g(0.4 * p - 0.2, 90 - 4 * step + 10 * i, { validRate: 0.2 + 0.6 * p });
    groups[`solve/${type}`] = g(0.8 * p - 0.3, 40 + 2 * step + 5 * i, { accuracy: 0.1 + 0.5 * p * (1 - 0.2 * i) });
  });
  return JSON.stringify({
    time: new Date(Date.UTC(2026, 10, 26, 10, step)).toISOString(),
    step,
    groups,
    train: { step, loss: 0.5 / step, gradNorm: 1, lr: 1e-4, tokens: 2000, terms: {} },
    bufferSizes: { deduction: 10 + step, abduction: 10 + step, induction: 8 + step },
    seconds: { total: 30 },
    // An in-training evaluation every second step, as eval.every = 2 writes it; the last one failed.
    ...(step === 6 ? { evalError: EVAL_ERROR } : step % 2 === 0 ? { eval: { suites: ["tiny"], seconds: 3, benchmarks: { tiny: { n: 30, correct: step, accuracy: step / 30 }, "tiny/deduction": { n: 10, correct: step, accuracy: step / 10 } } } } : {}),
    samples: [
      { type: "deduction", program: "def f(xs):\n    return sorted(set(xs))[-2]", input: "[3, 1, 4, 1, 5]", verdict: "valid", solveRate: 0.5 },
      { type: "abduction", program: "def f(s):\n    return s[::-1].upper()", verdict: "invalid: exception", solveRate: null },
    ],
  });
}

describe("web view in chromium", { skip: SKIP }, () => {
  const t = useOpsCluster("t-webui");
  let view: WebView | undefined;
  after(() => view?.close());

  test("page - loads in headless chromium and shows the live actors, NATS figures and curves; screenshot saved", { timeout: 120_000 }, async () => {
    const { chromium } = await import("playwright-core");
    const names = ["greeter", "relay", "busy-greeter"];
    await t.cluster.spawn(Greeter, [], { name: names[0] });
    await t.cluster.spawn(Relay, [], { name: names[1] });
    const g = await t.cluster.spawn(Greeter, [], { name: names[2] });
    for (let i = 0; i < 20; i++) await g.greet(`call ${i}`); // figures in the calls columns
    writeFileSync(join(t.runDir, "metrics.jsonl"), [1, 2, 3, 4, 5, 6].map(stepLine).join("\n") + "\n");
    view = await startWebView({ runDir: t.runDir, cluster: t.cluster, monitorUrl: t.server.monitorUrl });

    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const scriptErrors: string[] = [];
      page.on("pageerror", (e) => scriptErrors.push(e.message));
      page.on("console", (m) => void (m.type() === "error" && scriptErrors.push(m.text())));
      // Runs before the page's own script (injected by the browser, not subject to the page's CSP).
      await page.addInitScript({
        content: `window.cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline")));`,
      });
      const answer = await page.goto(view.url);
      assert.match((await answer?.allHeaders())?.["content-security-policy"] ?? "", /script-src 'self'/, "the page is served under its CSP");
      for (const n of names) await page.waitForSelector(`#actors-table tr[data-actor="${n}"]`, { timeout: 20_000 });
      const rows = await page.$$eval("#actors-table tr[data-actor]", (trs) =>
        trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")),
      );
      for (const n of names) {
        const row = rows.find((r) => r[0] === n);
        assert.ok(row, `actor ${n} is in the table: ${JSON.stringify(rows)}`);
        assert.equal(row[1], "alive", `${n} shows as alive`);
        assert.match(row[3], /^\d+$/, `${n} shows its pid`);
      }
      const header = await page.$$eval("#actors-table th", (ths) => ths.map((th) => th.textContent ?? ""));
      const col = (name: string) => {
        assert.ok(header.includes(name), `the actors table has a ${name} column, as azr top does: ${JSON.stringify(header)}`);
        return header.indexOf(name);
      };
      const busy = rows.find((r) => r[0] === "busy-greeter")!;
      assert.match(busy[col("calls")], /^(2\d|[3-9]\d|\d{3,})$/, "busy-greeter's call count (20 greets and more) is shown");
      assert.match(busy[col("uptime")], /^\d+s$|^\d+m\d\ds$/, "uptime as azr top writes it");
      assert.equal(busy[col("attached")], "0", "no attach sessions");
      assert.match(busy[col("procs")], /^\d+$/, "processes in the actor's tree");
      assert.equal(busy[col("gpu peak")], "–", "no GPU memory for an actor without an engine on CUDA");
      assert.match((await page.getAttribute('#actors-table th:text-is("cpu % (tree)")', "title")) ?? "", /whole process tree.*Python workers/, "the tree columns say what they cover");
      await page.waitForSelector("#nats .figure", { timeout: 10_000 });
      const nats = await page.textContent("#nats");
      assert.match(nats ?? "", /connections\s*\d+/);
      await page.waitForSelector('#chart-valid path[data-series="propose/induction"]');
      await page.waitForSelector('#chart-eval path[data-series="tiny/deduction"]');
      assert.equal(await page.locator("#charts .chart").count(), 6, "the five curves and the evaluation are drawn");
      const evalChart = (await page.textContent("#chart-eval")) ?? "";
      assert.ok(evalChart.includes(`evaluation after step 6 failed: ${EVAL_ERROR}`), `a failed evaluation is said, not a silent gap: ${evalChart}`);
      assert.equal(await page.locator("#injected").count(), 0, "the error's markup is shown as text, not made into elements");
      assert.match(evalChart, /step 1.*step 6/, "the evaluation's x-axis spans the run's steps (1–6), not only the evaluated ones (2–4)");
      assert.deepEqual(scriptErrors, [], "the page's script ran without errors");
      assert.deepEqual(await page.evaluate("window.cspViolations"), [], "nothing on the page is blocked by its CSP");

      const shot = process.env.AZR_UPDATE_DOCS === "1" ? DOCS_SHOT : join(t.runDir, "web-view.png");
      mkdirSync(dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, `the screenshot ${shot} has content`);
    } finally {
      await browser.close();
    }
  });

  test("polling - a slow answer is not taken twice; lines of the wrong shape neither freeze the curves nor break them; a rewritten file is read again", { timeout: 120_000 }, async () => {
    const { chromium } = await import("playwright-core");
    const dir = join(t.runDir, "slow");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "metrics.jsonl");
    writeFileSync(file, [1, 2, 3].map(stepLine).join("\n") + "\n");
    const slow = await startWebView({ runDir: dir });
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const page = await browser.newPage();
      const scriptErrors: string[] = [];
      page.on("pageerror", (e) => scriptErrors.push(e.message));
      // The first reading of the curves takes longer than the poll period (a long run's file, a busy driver).
      // The page polls every 500 ms here (`?poll=`, default 2 s), and the waits below span at least as many polls as they did at 2 s.
      const pollMs = 500;
      let first = true;
      await page.route("**/api/metrics*", async (route) => {
        if (first) {
          first = false;
          await new Promise((r) => setTimeout(r, 3 * pollMs));
        }
        await route.continue();
      });
      await page.goto(`${slow.url}?poll=${pollMs}`);
      await page.locator("#updated").filter({ hasText: /\d+ steps$/ }).waitFor({ timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 4 * pollMs)); // the slow answer has come, and later polls
      assert.match((await page.textContent("#updated")) ?? "", /· 3 steps$/, "each step once (the same lines taken twice draw every curve back over itself)");

      // Lines of the right JSON but the wrong shape (an `eval` without benchmarks, a step that is
      // not a number, a score that is not a number), then the run goes on.
      const odd = [
        { ...JSON.parse(stepLine(4)), eval: {} },
        { ...JSON.parse(stepLine(4)), step: "4b" },
        { ...JSON.parse(stepLine(4)), eval: { benchmarks: { tiny: { n: 1, accuracy: "high" } } } },
      ];
      writeFileSync(file, [1, 2, 3].map(stepLine).join("\n") + "\n" + odd.map((l) => JSON.stringify(l) + "\n").join("") + stepLine(5) + "\n" + stepLine(6) + "\n");
      await page.locator("#updated").filter({ hasText: /· 8 steps$/ }).waitFor({ timeout: 20_000 });
      const paths = await page.$$eval("#charts path", (ps) => ps.map((p) => p.getAttribute("d") ?? ""));
      assert.ok(paths.length > 0 && paths.every((d) => !d.includes("NaN")), `every curve can be drawn: ${paths.filter((d) => d.includes("NaN")).join(" | ")}`);
      const evalChart = (await page.textContent("#chart-eval")) ?? "";
      assert.match(evalChart, /step 1.*step 6/, "the curves are drawn up to the last step");
      assert.equal(await page.locator('#chart-eval path[data-series="tiny"]').count(), 1, "the evaluation's curve is still drawn");

      // A resume from step 2's checkpoint: the file is rewritten with lines 1–2, and has grown past
      // its old 8 lines again when the page next reads it. Step 6's failed evaluation is gone with it.
      assert.match((await page.textContent("#chart-eval")) ?? "", /step 6 failed: scorer lost/);
      const resumed = [3, 4, 5, 6, 7, 8, 9].map((n) => JSON.stringify({ ...JSON.parse(stepLine(n)), eval: undefined, evalError: undefined }));
      writeFileSync(file, [stepLine(1), stepLine(2), ...resumed].join("\n") + "\n");
      await page.locator("#updated").filter({ hasText: /· 9 steps$/ }).waitFor({ timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 2 * pollMs)); // a poll more
      assert.doesNotMatch((await page.textContent("#chart-eval")) ?? "", /scorer lost/, "the steps of the rewritten file, not the old ones");
      assert.deepEqual(scriptErrors, [], "the page's script ran without errors");
    } finally {
      await browser.close();
      await slow.close();
    }
  });
});
