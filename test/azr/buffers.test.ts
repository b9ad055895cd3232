import { test } from "node:test";
import assert from "node:assert/strict";
import {
  admitEntries, entryKey, identityInductionEntry, identityTriplet, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine,
  drawFittingReferences, seedTopUp, tripletSeedLine, inductionSeedLine, SeedShortfallError, pickSolverTasks, PromptLimitError, sampleInductionProgram, sampleReferences, sampleReferencesBy, SeedFormatError,
} from "../../azr/buffers.ts";
import { createRng } from "../../azr/rng.ts";
import { parseArgs, parseLiteral, pyEqual } from "../../azr/literal.ts";
import type { Triplet } from "../../azr/tasks.ts";

const t = (program: string, input: string, step = 1): Triplet => ({ program, input, output: input, imports: [], step });

test("buffers - K references without replacement, K = min(K, size), independent across prompts", () => {
  const buf = Array.from({ length: 10 }, (_, i) => t(`def f(a):\n    return a + ${i}`, String(i)));
  const rng = createRng(1);
  const draws = Array.from({ length: 50 }, () => sampleReferences(rng, buf, 6));
  for (const d of draws) assert.equal(new Set(d).size, 6);
  assert.ok(new Set(draws.map((d) => d.map((x) => x.input).join())).size > 40, "draws differ");
  assert.equal(sampleReferences(rng, buf.slice(0, 2), 6).length, 2);
  assert.deepEqual(sampleReferences(rng, [], 6), []);
});

test("buffers - induction program drawn from the union of deduction and abduction buffers", () => {
  const ded = [t("def f(a): return 1", "1")], abd = [t("def f(a): return 2", "2"), t("def f(a): return 3", "3")];
  const rng = createRng(5);
  const counts = new Map<string, number>();
  for (let i = 0; i < 3000; i++) { const p = sampleInductionProgram(rng, ded, abd).program; counts.set(p, (counts.get(p) ?? 0) + 1); }
  assert.equal(counts.size, 3);
  for (const c of counts.values()) assert.ok(Math.abs(c - 1000) < 150, String([...counts.values()]));
  assert.throws(() => sampleInductionProgram(rng, [], []), /both empty/);
});

test("buffers - solver mix: max-new, half-new, uniform", () => {
  const fresh = ["n1", "n2", "n3"], buffer = ["b1", "b2", "b3", "b4", "b5", "b6", "n1", "n2", "n3"];
  const rng = createRng(9);
  const cases: [Parameters<typeof pickSolverTasks>[4], number, number][] = [
    ["max-new", 4, 3], // all 3 new, 1 from the buffer
    ["max-new", 2, 2], // more new than L: a uniform 2 of them
    ["half-new", 4, 2],
    ["uniform", 4, 0],
  ];
  for (const [mix, L, newFirst] of cases) {
    const got = pickSolverTasks(rng, fresh, buffer, L, mix);
    assert.equal(got.length, L, mix);
    assert.ok(got.slice(0, newFirst).every((x) => x.startsWith("n")), `${mix}: ${got}`);
    assert.equal(new Set(got.slice(0, newFirst)).size, newFirst);
    assert.equal(new Set(got.slice(newFirst)).size, L - newFirst, "buffer part without replacement");
  }
});

test("buffers - admission: exact de-duplication on normalised program and parsed inputs", () => {
  const base = [t("def f(a):\n    return a", "1")];
  const batch = [
    t("def f(a):\n  return a", "1.0"), // same program modulo whitespace, equal input value → duplicate
    t("def f(a):\n    return a", "2"), // new input
    t("def f(a):\n    return a", "2"), // duplicate of the previous batch entry
  ];
  const r = admitEntries(base, batch, { dedupe: "exact", maxEntries: 100, capPolicy: "evict-oldest" });
  assert.equal(r.entries.length, 2);
  assert.deepEqual(r.admitted.map((e) => e.input), ["2"]);
  assert.deepEqual(r.rejected.map((x) => x.reason), ["duplicate", "duplicate"]);
  const none = admitEntries(base, batch, { dedupe: "none", maxEntries: 100, capPolicy: "evict-oldest" });
  assert.equal(none.entries.length, 4, "reference behaviour keeps duplicates");
  assert.notEqual(entryKey(t("def f(a): return 'x  y'", "1")), entryKey(t("def f(a): return 'x y'", "1")));
});

test("buffers - cap: evict-oldest keeps the newest, keep-first freezes (reference)", () => {
  const buf = [t("def f(a): return 0", "0", 0), t("def f(a): return 1", "1", 0)];
  const batch = [t("def f(a): return 2", "2", 1), t("def f(a): return 3", "3", 1)];
  const evict = admitEntries(buf, batch, { dedupe: "exact", maxEntries: 3, capPolicy: "evict-oldest" });
  assert.deepEqual(evict.entries.map((e) => e.input), ["1", "2", "3"]);
  assert.deepEqual(evict.evicted.map((e) => e.input), ["0"]);
  const keep = admitEntries(buf, batch, { dedupe: "exact", maxEntries: 3, capPolicy: "keep-first" });
  assert.deepEqual(keep.entries.map((e) => e.input), ["0", "1", "2"]);
  assert.deepEqual(keep.rejected.map((x) => [x.entry.input, x.reason]), [["3", "buffer full"]]);
  // an evicted entry may come back: its key is released
  const back = admitEntries(evict.entries, [t("def f(a): return 0", "0", 2)], { dedupe: "exact", maxEntries: 3, capPolicy: "evict-oldest" });
  assert.equal(back.admitted.length, 1);
  assert.equal(buf.length, 2, "input buffer untouched");
  // a batch larger than the cap: its own first entries are pushed out in the same call, so they are
  // refused, not reported as both admitted (new tasks the solver would draw) and evicted
  const flood = [2, 3, 4, 5].map((k) => t(`def f(a): return ${k}`, String(k), 1));
  const over = admitEntries(buf, flood, { dedupe: "exact", maxEntries: 3, capPolicy: "evict-oldest" });
  assert.deepEqual(over.entries.map((e) => e.input), ["3", "4", "5"]);
  assert.deepEqual(over.admitted.map((e) => e.input), ["3", "4", "5"]);
  assert.deepEqual(over.evicted.map((e) => e.input), ["0", "1"]);
  assert.deepEqual(over.rejected.map((x) => [x.entry.input, x.reason]), [["2", "buffer full"]]);
});

test("buffers - identity seeds are literals whose outputs equal their inputs", () => {
  const id = identityTriplet();
  assert.deepEqual(id, { program: "def f(a):\n    return a", input: "'Hello world'", output: "'Hello world'", imports: [], step: 0 });
  const ind = identityInductionEntry();
  assert.equal(ind.inputs.length, 6);
  const types = new Set(ind.inputs.map((x) => parseLiteral(x).t));
  assert.ok(types.size >= 4, `several types: ${[...types]}`);
  ind.inputs.forEach((x, i) => {
    const args = parseArgs(x);
    assert.equal(args.positional.length, 1);
    assert.ok(pyEqual(args.positional[0], parseLiteral(ind.outputs[i])));
  });
});

test("buffers - seed lines: fields checked, first `limit` kept, errors name the line", () => {
  const text = [
    JSON.stringify({ snippet: "def f(a):\n    return a", input: "1", output: "1", imports: [], original_snippet: "", composite_functions: [] }),
    "",
    JSON.stringify({ snippet: "def f(a):\n    return a", input: "2", output: "2", imports: ["import math"] }),
    JSON.stringify({ snippet: "def f(a):\n    return a", input: "3", output: "3" }),
  ].join("\n");
  const got = parseSeedFile(text, "x.jsonl", 2, parseTripletSeedLine);
  assert.deepEqual(got.map((e) => [e.input, e.imports, e.step]), [["1", [], 0], ["2", ["import math"], 0]]);
  assert.throws(() => parseSeedFile('{"snippet": 1}', "bad.jsonl", 9, parseTripletSeedLine), (e: unknown) => e instanceof SeedFormatError && /bad\.jsonl:1: field 'snippet'/.test((e as Error).message));
  assert.throws(() => parseSeedFile("not json", "bad.jsonl", 9, parseTripletSeedLine), /bad\.jsonl:1: not JSON/);
  assert.throws(() => parseInductionSeedLine(JSON.stringify({ snippet: "x", inputs: ["1"], outputs: [], message: "m" }), "i.jsonl:3"), /1 inputs but 0 outputs/);
});

test("buffers - recency sampling weighs entries by creation step + 1; uniform ignores it", () => {
  const buf = [t("def f(a): return 0", "0", 0), t("def f(a): return 9", "9", 9)]; // weights 1 and 10
  const rng = createRng(11);
  let late = 0;
  for (let i = 0; i < 2000; i++) if (sampleReferencesBy(rng, buf, 1, "recency")[0].step === 9) late++;
  assert.ok(Math.abs(late / 2000 - 10 / 11) < 0.03, String(late));
  late = 0;
  for (let i = 0; i < 2000; i++) if (sampleReferencesBy(rng, buf, 1, "uniform")[0].step === 9) late++;
  assert.ok(Math.abs(late / 2000 - 0.5) < 0.05, String(late));
  assert.equal(new Set(sampleReferencesBy(rng, buf, 2, "recency")).size, 2, "without replacement");
});

test("buffers - over-long proposer prompts are re-drawn, then the step fails naming the buffer", () => {
  const buf = Array.from({ length: 6 }, (_, i) => t(`def f(a): return ${i}`, String(i)));
  const rng = createRng(2);
  let calls = 0;
  const got = drawFittingReferences(rng, buf, 2, "uniform", (refs) => { calls++; return refs.every((r) => r.input !== "0"); }, 100, "deduction");
  assert.ok(got.references.every((r) => r.input !== "0"));
  assert.equal(got.redraws, calls - 1);
  assert.throws(() => drawFittingReferences(rng, buf, 2, "uniform", () => false, 5, "abduction"), (e: unknown) => e instanceof PromptLimitError && /abduction buffer .* after 5 re-draws/.test((e as Error).message));
});

test("buffers - seed top-up: only below B, up to S·B; off → an error naming the file", () => {
  const cases: [number, number, number, number][] = [[256, 64, 4, 0], [64, 64, 4, 0], [59, 64, 1, 5], [47, 64, 4, 209]];
  for (const [kept, B, S, want] of cases) assert.equal(seedTopUp(kept, { batchSize: B, factor: S, topUp: true, file: "x.jsonl" }), want, `${kept}/${B}×${S}`);
  assert.throws(() => seedTopUp(59, { batchSize: 64, factor: 1, topUp: false, file: "llama_64_seed_io.jsonl" }), (e: unknown) => e instanceof SeedShortfallError && /llama_64_seed_io\.jsonl: only 59 .* seed\.topUp/.test((e as Error).message));
});

test("buffers - seed lines written by azr seed read back through the published-format parsers", () => {
  const tr: Triplet = { program: "import math\ndef f(a):\n    return math.floor(a)", input: "2.5", output: "2", imports: ["import math"], step: 7 };
  const line = tripletSeedLine(tr, "import math\ndef f(a):\n    # floor\n    return math.floor(a)");
  const o = JSON.parse(line);
  assert.equal(o.original_snippet, "import math\ndef f(a):\n    # floor\n    return math.floor(a)");
  assert.deepEqual(o.composite_functions, []);
  assert.deepEqual(parseTripletSeedLine(line, "x:1"), { ...tr, step: 0 }, "seeds are step 0");
  const ind = identityInductionEntry();
  assert.deepEqual(parseInductionSeedLine(inductionSeedLine(ind), "y:1"), ind);
});
