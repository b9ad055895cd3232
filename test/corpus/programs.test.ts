/**
 * The program generator: reproducible from its seed, graded levels in the asked proportions, and
 * every program valid Python 3.11 that runs — checked by Debian's python3 with `ast.parse` and a
 * small execution harness written here (independent of actors/base-model's harness).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { findPython } from "../../model/python.ts";
import { DEFAULT_LEVEL_WEIGHTS, generatePrograms, LEVELS } from "../../azr/corpus/programs.ts";
import { Rng } from "../../azr/corpus/rng.ts";
import { distinctInputs, pyRepr, pyStr } from "../../azr/corpus/values.ts";
import { SPEC_BANNED_WORDS } from "../../azr/corpus/format.ts";
import { halstead } from "../../azr/pysource.ts";

/** Parses, inspects and runs each program on its inputs; prints one JSON summary. */
const CHECKER = String.raw`
import ast, json, sys, signal
class Timeout(BaseException): pass
def alarm(*_): raise Timeout()
signal.signal(signal.SIGALRM, alarm)
jobs = json.load(sys.stdin)
report = {"parsed": 0, "syntax": [], "defs": {}, "imports": 0, "names": set(), "programs_with_a_passing_input": 0, "runs": 0, "passed": 0, "timeouts": 0}
for job in jobs:
    try:
        tree = ast.parse(job["source"])
    except SyntaxError as e:
        report["syntax"].append(str(e)); continue
    report["parsed"] += 1
    defs = sum(isinstance(n, ast.FunctionDef) for n in ast.walk(tree))
    report["defs"][defs] = report["defs"].get(defs, 0) + 1
    report["imports"] += sum(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
    report["names"].update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    report["names"].update(n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute))
    ns = {}
    exec(compile(tree, "<p>", "exec"), ns)
    ok_any = False
    for text in job["inputs"]:
        report["runs"] += 1
        args = [ast.literal_eval(a) for a in ast.parse("f(" + text + ")", mode="eval").body.args]
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        try:
            ns["f"](*args); report["passed"] += 1; ok_any = True
        except Timeout:
            report["timeouts"] += 1
        except Exception:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    report["programs_with_a_passing_input"] += ok_any
report["names"] = sorted(report["names"])
print(json.dumps(report))
`;

interface CheckReport {
  parsed: number;
  syntax: string[];
  defs: Record<string, number>;
  imports: number;
  names: string[];
  programs_with_a_passing_input: number;
  runs: number;
  passed: number;
  timeouts: number;
}

function check(jobs: { source: string; inputs: string[] }[]): CheckReport {
  const r = spawnSync(findPython().path, ["-c", CHECKER], { input: JSON.stringify(jobs), encoding: "utf8", maxBuffer: 64 << 20, env: { PATH: process.env.PATH, PYTHONHASHSEED: "0" } });
  assert.equal(r.status, 0, `python checker failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as CheckReport;
}

describe("program generator", () => {
  it("same seed, same programs; another seed, other programs", () => {
    const a = generatePrograms({ seed: 11, count: 200 });
    const b = generatePrograms({ seed: 11, count: 200 });
    const c = generatePrograms({ seed: 12, count: 200 });
    assert.deepEqual(a, b);
    const same = a.filter((p, i) => p.source === c[i].source).length;
    assert.ok(same < 40, `seeds 11 and 12 agree on ${same}/200 programs`);
  });

  it("another process draws the same programs from the same seed", () => {
    const script = `import { generatePrograms } from ${JSON.stringify(new URL("../../azr/corpus/programs.ts", import.meta.url).pathname)};
process.stdout.write(JSON.stringify(generatePrograms({ seed: 11, count: 200 })));`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), generatePrograms({ seed: 11, count: 200 }));
  });

  it("refuses seeds that would repeat another seed's programs under other ids", () => {
    // The streams hash a seed's low 32 bits: these all drew seed 1's programs, so a held-out seed of 2^32 + 1 repeated pretraining.
    for (const seed of [1.5, 2 ** 32 + 1, -(2 ** 32) + 1, Number.NaN])
      assert.throws(() => generatePrograms({ seed, count: 3 }), /generator seed must be an integer in \[0, 2\^32\)/, `seed ${seed}`);
    assert.equal(generatePrograms({ seed: 2 ** 32 - 1, count: 1 }).length, 1);
  });

  it("program i depends only on (seed, i): asking for more extends the list", () => {
    const short = generatePrograms({ seed: 5, count: 30 });
    const long = generatePrograms({ seed: 5, count: 90 });
    assert.deepEqual(long.slice(0, 30), short);
  });

  it("levels follow the weights, and each level uses several templates", () => {
    const n = 3000;
    const ps = generatePrograms({ seed: 3, count: n });
    for (const level of LEVELS) {
      const share = ps.filter((p) => p.level === level).length / n;
      assert.ok(Math.abs(share - DEFAULT_LEVEL_WEIGHTS[level]) < 0.03, `level ${level}: share ${share.toFixed(3)} vs weight ${DEFAULT_LEVEL_WEIGHTS[level]}`);
      const templates = new Set(ps.filter((p) => p.level === level).map((p) => p.template));
      assert.ok(level === 0 || templates.size >= 4, `level ${level} uses only ${[...templates].join(", ")}`);
    }
    // Each level is bigger on average than the one below, by Halstead volume (azr's measure).
    const meanVolume = (l: number) => { const xs = ps.filter((p) => p.level === l); return xs.reduce((a, p) => a + halstead(p.source).volume, 0) / xs.length; };
    for (let l = 0; l < 4; l++) assert.ok(meanVolume(l + 1) > meanVolume(l), `level ${l + 1} (${meanVolume(l + 1)}) not above level ${l} (${meanVolume(l)})`);
  });

  it("every program is valid Python with one def, no imports, no banned words, and runs on its inputs", () => {
    const ps = generatePrograms({ seed: 21, count: 1000 });
    const jobs = ps.map((p) => ({ source: p.source, inputs: distinctInputs(p.params, Rng.derive(21, "inputs", p.id), 4) }));
    const r = check(jobs);
    assert.deepEqual(r.syntax, []);
    assert.equal(r.parsed, ps.length);
    assert.deepEqual(r.defs, { "1": ps.length }, "the tiny recipe rejects multiple functions");
    assert.equal(r.imports, 0);
    const banned = SPEC_BANNED_WORDS.filter((w) => !w.includes(".") && r.names.includes(w));
    assert.deepEqual(banned, []);
    assert.equal(r.timeouts, 0);
    assert.ok(r.programs_with_a_passing_input / ps.length > 0.97, `only ${r.programs_with_a_passing_input}/${ps.length} programs run on any input`);
    assert.ok(r.passed / r.runs > 0.95, `only ${r.passed}/${r.runs} runs pass`);
  });

  it("helper functions appear only when asked for, at level 4, and compile", () => {
    const weights = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 1 };
    const ps = generatePrograms({ seed: 8, count: 200, levelWeights: weights, helperFunctions: true });
    const helpers = ps.filter((p) => p.template === "helper");
    assert.ok(helpers.length > 10, `${helpers.length} helper programs in 200`);
    const r = check(helpers.map((p) => ({ source: p.source, inputs: distinctInputs(p.params, new Rng(1), 3) })));
    assert.equal(r.parsed, helpers.length);
    assert.deepEqual(r.defs, { "2": helpers.length });
    assert.ok(!generatePrograms({ seed: 8, count: 200, levelWeights: weights }).some((p) => p.template === "helper"));
  });

  it("every program has a message that does not contain its code", () => {
    for (const p of generatePrograms({ seed: 4, count: 300 })) {
      assert.match(p.message, /^Takes .+; .+; returns .+\.$/);
      assert.ok(!p.message.includes("def ") && !p.message.includes("return "), p.message);
    }
  });
});

describe("values and rng", () => {
  it("pyStr and pyRepr write what Python's repr writes", () => {
    const texts = ["", "abc", "it's", 'say "hi"', `both ' and "`, "tab\tnew\nline\\", "\x01"];
    const values = [[1, -2, []], { tuple: [3] }, { tuple: [1, "a"] }, { dict: [["k", [true, false]]] }] as const;
    const ours = [...texts.map(pyStr), ...values.map((v) => pyRepr(v as never))];
    const script = `import json,sys\nfor t in json.load(sys.stdin): print(repr(t))\nprint(repr([1, -2, []]))\nprint(repr((3,)))\nprint(repr((1, 'a')))\nprint(repr({'k': [True, False]}))`;
    const r = spawnSync(findPython().path, ["-c", script], { input: JSON.stringify(texts), encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(ours, r.stdout.trimEnd().split("\n"));
  });

  it("Rng draws stay in range and weights are honoured", () => {
    const rng = new Rng(9);
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i++) {
      const x = rng.int(-3, 3);
      assert.ok(x >= -3 && x <= 3 && Number.isInteger(x));
      counts[rng.weighted([["a", 3], ["b", 1]] as const)]++;
    }
    assert.ok(Math.abs(counts.a / 4000 - 0.75) < 0.03, JSON.stringify(counts));
    assert.deepEqual(Rng.derive(1, "x", 2).int(0, 1e9), Rng.derive(1, "x", 2).int(0, 1e9));
    assert.notEqual(Rng.derive(1, "x", 2).int(0, 1e9), Rng.derive(1, "x", 3).int(0, 1e9));
  });
});
