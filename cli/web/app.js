// The run's web view: polls /api/top, /api/metrics and /api/samples and redraws plain DOM and
// inline SVG. No framework, no build step: this file is served as it is.
"use strict";

// `?poll=<ms>` in the page's address sets another period (tests poll faster).
const POLL_MS = Number(new URLSearchParams(location.search).get("poll")) || 2000;
const GROUP_COLORS = {
  "propose/deduction": "#0969da",
  "propose/abduction": "#8250df",
  "propose/induction": "#bf3989",
  "solve/deduction": "#1a7f37",
  "solve/abduction": "#9a6700",
  "solve/induction": "#cf222e",
};
const CHARTS = [
  { id: "valid", title: "Valid proposal rate", groups: /^propose\//, value: (g) => g.validRate },
  { id: "accuracy", title: "Solve accuracy", groups: /^solve\//, value: (g) => g.accuracy },
  { id: "reward", title: "Reward mean", groups: /./, value: (g) => g.rewardMean },
  { id: "length", title: "Response length (mean tokens)", groups: /./, value: (g) => g.responseLength && g.responseLength.mean },
  { id: "loss", title: "Train loss", train: (t) => t && t.loss },
  { id: "eval", title: "Evaluation pass@1 (every eval.every steps)", eval: true },
];
const EVAL_COLORS = ["#1d2330", "#0969da", "#9a6700", "#bf3989", "#1a7f37", "#cf222e", "#8250df", "#57606a"];

const steps = [];
let nextLine = 0;
let generation = null; // the server's count of metrics.jsonl rewrites, when this page last read it

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i > 0 && n < 10 ? n.toFixed(1) : Math.round(n)) + " " + u[i];
}
/** A duration as `azr top` writes it: 42s, 3m05s, 2h07m, 1d4h. */
function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}
const num = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

function renderActors(top) {
  const box = document.getElementById("actors");
  if (top.error) { box.replaceChildren(el("div", { class: "muted" }, top.error)); return; }
  // The columns of `azr top`, in its order.
  const head = ["actor", "state", "node", "pid", "restarts", "uptime", "calls/s", "p50 ms", "p99 ms", "queue", "in flight", "calls", "errors", "procs", "memory (tree)", "cpu % (tree)", "gpu peak", "attached"];
  const TREE = "the actor's whole process tree: its Node process plus the processes it started (Python workers) and theirs";
  const titles = { procs: "processes in " + TREE, "memory (tree)": "resident memory of " + TREE, "cpu % (tree)": "CPU of " + TREE + " (100 = one core)", "gpu peak": "GPU memory a torch engine on CUDA has reserved at peak (its ranks summed)", attached: "azr attach sessions open on the actor" };
  const rows = top.actors.map((a) => {
    const s = a.stats || {};
    const cells = [
      a.name, a.state, a.node, a.pid, `${a.restarts}/${a.maxRestarts}`,
      a.uptimeSec === null || a.uptimeSec === undefined ? "–" : age(a.uptimeSec * 1000),
      num(s.callsPerSec), num(s.p50Ms), num(s.p99Ms), s.queueDepth ?? "–", s.inFlight ?? "–", s.calls ?? "–", s.errors ?? "–",
      // The actor's whole process tree: its Node process plus child processes (Python workers) and theirs.
      a.process?.tree?.processes ?? "–",
      a.process?.tree ? bytes(a.process.tree.rss) : "–",
      num(a.process?.tree?.cpuPercent, 0),
      s.deviceMemory ? bytes(s.deviceMemory.peakReservedBytes) : "–",
      a.process?.attachSessions ?? "–",
    ];
    const tr = el("tr", { "data-actor": a.name });
    cells.forEach((c, i) => tr.append(el("td", i === 1 ? { class: "state-" + a.state } : i >= 3 ? { class: "num" } : {}, c)));
    return tr;
  });
  const table = el("table", { id: "actors-table" }, el("tr", {}, ...head.map((h) => el("th", titles[h] ? { title: titles[h] } : {}, h))), ...rows);
  box.replaceChildren(rows.length ? table : el("div", { class: "muted" }, "no actors registered"));
}

function renderNats(top) {
  const box = document.getElementById("nats");
  const n = top.nats;
  if (!n || !n.figures) { box.replaceChildren(el("div", { class: "muted" }, n ? `monitoring unavailable (${n.error || "no answer"})` : "")); return; }
  const f = n.figures, r = n.rates || {};
  const figs = [
    ["server", `${f.version} · up ${f.uptime}`],
    ["connections", f.connections],
    ["subscriptions", f.subscriptions],
    ["slow consumers", f.slowConsumers],
    ["msgs in /s", num(r.inMsgsPerSec, 0)],
    ["msgs out /s", num(r.outMsgsPerSec, 0)],
    ["bytes in /s", r.inBytesPerSec === undefined ? "–" : bytes(r.inBytesPerSec)],
    ["bytes out /s", r.outBytesPerSec === undefined ? "–" : bytes(r.outBytesPerSec)],
    ["JetStream streams", f.jetstream.streams],
    ["JetStream storage", bytes(f.jetstream.storage)],
    ["server memory", bytes(f.mem)],
  ];
  box.replaceChildren(...figs.map(([k, v]) => el("div", { class: "figure" }, el("span", { class: "muted" }, k), el("b", {}, v))));
}

/** Smallest and largest of many numbers (Math.min(...xs) overflows the stack on a long run's points). */
function extent(xs) {
  let lo = Infinity, hi = -Infinity;
  for (const x of xs) { if (x < lo) lo = x; if (x > hi) hi = x; }
  return [lo, hi];
}

/** An SVG line chart of several series [{name, color, points:[[x,y]]}]; `xRange` [first, last] step, else the points'. */
function lineChart(series, xRange, w = 420, h = 160) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", "100%");
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) {
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", 10); t.setAttribute("y", h / 2); t.setAttribute("fill", "#6b7385");
    t.textContent = "no data yet";
    svg.append(t);
    return svg;
  }
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  let [x0, x1] = extent(pts.map((p) => p[0]));
  if (xRange) [x0, x1] = [Math.min(x0, xRange[0]), Math.max(x1, xRange[1])];
  let [y0, y1] = extent(pts.map((p) => p[1]));
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const Y = (y) => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    add("line", { x1: pad.l, x2: w - pad.r, y1: Y(y), y2: Y(y), stroke: "#e3e6ec" });
    add("text", { x: pad.l - 4, y: Y(y) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7385" }, Math.abs(y) >= 100 ? y.toFixed(0) : y.toFixed(2));
  }
  add("text", { x: pad.l, y: h - 4, "font-size": 10, fill: "#6b7385" }, `step ${x0}`);
  add("text", { x: w - pad.r, y: h - 4, "font-size": 10, fill: "#6b7385", "text-anchor": "end" }, `step ${x1}`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    add("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8, "data-series": s.name });
    if (s.points.length === 1) add("circle", { cx: X(s.points[0][0]), cy: Y(s.points[0][1]), r: 2.5, fill: s.color });
  }
  return svg;
}

/** A point that can be drawn: a line of another shape (no step number, a score that is not a number) would put NaN into the path, which the browser stops drawing at, or throw. */
const finite = (p) => Number.isFinite(p[0]) && Number.isFinite(p[1]);

function renderCharts() {
  const box = document.getElementById("charts");
  const groups = [...new Set(steps.flatMap((s) => Object.keys(s.groups || {})))].sort();
  // Every chart spans the run's steps, so the evaluation's points sit under the steps they were taken at.
  const run = extent(steps.map((s) => s.step).filter(Number.isFinite));
  const xRange = Number.isFinite(run[0]) ? run : undefined;
  box.replaceChildren(...CHARTS.map((c) => {
    let series;
    if (c.eval) {
      const names = [...new Set(steps.flatMap((s) => Object.keys((s.eval && s.eval.benchmarks) || {})))].sort();
      series = names.map((b, i) => ({
        name: b,
        color: EVAL_COLORS[i % EVAL_COLORS.length],
        points: steps.filter((s) => s.eval && s.eval.benchmarks && s.eval.benchmarks[b]).map((s) => [s.step, s.eval.benchmarks[b].accuracy]).filter(finite),
      }));
    } else if (c.train) {
      series = [{ name: "loss", color: "#1d2330", points: steps.map((s) => [s.step, c.train(s.train)]).filter(finite) }];
    } else {
      series = groups.filter((g) => c.groups.test(g)).map((g) => ({
        name: g,
        color: GROUP_COLORS[g] || "#57606a",
        points: steps.map((s) => [s.step, s.groups[g] ? c.value(s.groups[g]) : undefined]).filter(finite),
      }));
    }
    const legend = el("div", { class: "legend" }, ...series.map((s) => {
      const i = el("i"); i.style.background = s.color;
      return el("span", {}, i, s.name);
    }));
    // A failed in-training evaluation is a lost measurement: say so instead of leaving a silent gap.
    const failed = c.eval ? steps.filter((s) => s.evalError) : [];
    const errors = failed.slice(-3).map((s) => el("div", { class: "error eval-error" }, `evaluation after step ${s.step} failed: ${s.evalError}`));
    if (failed.length > 3) errors.unshift(el("div", { class: "error eval-error" }, `${failed.length} evaluations failed, the last three:`));
    return el("div", { class: "chart", id: "chart-" + c.id }, el("h3", {}, c.title), lineChart(series, xRange), legend, ...errors);
  }));
}

function renderSamples(data) {
  document.getElementById("samples-step").textContent = data.step === null ? "" : `(step ${data.step})`;
  const box = document.getElementById("samples");
  if (!data.samples.length) { box.replaceChildren(el("div", { class: "muted" }, "none yet")); return; }
  const rows = data.samples.map((s) => el("tr", {}, el("td", {}, s.type), el("td", {}, s.verdict), el("td", { class: "num" }, s.solveRate === undefined ? "–" : num(s.solveRate, 2)), el("td", {}, el("pre", {}, s.program))));
  box.replaceChildren(el("table", { id: "samples-table" }, el("tr", {}, ...["type", "verdict", "solve rate", "program"].map((h) => el("th", {}, h))), ...rows));
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function poll() {
  const problems = [];
  await Promise.all([
    // A drawing that throws is said as well (in .catch, not .then's second argument): else the
    // poll failed before the status line, which went on saying "updated" at the old time.
    getJson("api/top").then((t) => { renderActors(t); renderNats(t); }).catch((e) => problems.push(e.message)),
    getJson(`api/metrics?from=${nextLine}`).then((m) => {
      document.getElementById("run").textContent = m.runDir;
      // The file was replaced or rewritten (a resume keeps the lines up to its checkpoint, then
      // appends): start over. Fewer lines alone missed a rewrite that had grown back past them.
      if (m.next < nextLine || (generation !== null && m.generation !== generation)) { steps.length = 0; nextLine = 0; generation = m.generation; return; }
      generation = m.generation;
      steps.push(...m.steps);
      nextLine = m.next;
      renderCharts();
    }).catch((e) => problems.push(e.message)),
    getJson("api/samples").then(renderSamples).catch((e) => problems.push(e.message)),
  ]);
  const u = document.getElementById("updated");
  u.textContent = problems.length ? "error: " + problems.join("; ") : `updated ${new Date().toLocaleTimeString()} · ${steps.length} steps`;
  u.className = problems.length ? "error" : "muted";
  document.body.dataset.ready = "1";
}

// The next poll starts when this one has ended: with a fixed interval, a reading slower than
// POLL_MS (a long run's first metrics, a busy driver) overlapped the next one, which asked for
// the same lines again, and every step was drawn twice.
(async function loop() {
  await poll().catch((e) => console.warn("azr web: poll failed", e));
  setTimeout(loop, POLL_MS);
})();
