/**
 * Math answers: extraction with the spec's fallbacks, and a table of equivalence verdicts
 * decided by normalisation and sympy in the sandboxed eval worker (3 s per comparison).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { extractMathAnswer, latexToSympy, LatexError, normaliseMath } from "../../actors/eval/math-answer.ts";
import { MathJudge } from "../../actors/eval/math-equiv.ts";
import { EvalWorkerPool } from "../../actors/eval/worker-pool.ts";

describe("math answer extraction (spec §10)", () => {
  const cases: [string, string, string][] = [
    ["the last \\boxed inside <answer>", "<think>\\boxed{1}</think><answer>so \\boxed{2} or \\boxed{3}</answer>", "3"],
    ["<answer> text without a box", "<think>\\boxed{1}</think><answer> 42 </answer>", "42"],
    ["nested braces in the box", "<answer>\\boxed{\\frac{1}{\\sqrt{2}}}</answer>", "\\frac{1}{\\sqrt{2}}"],
    ["no <answer>: the last \\boxed anywhere", "so \\boxed{5} and then \\boxed{6}.", "6"],
    ["no <answer>, no box: the first \\[…\\] block", "we get \\[ x = 7 \\] and \\[ 8 \\]", "x = 7"],
    ["nothing at all", "I do not know", ""],
    ["\\boxed with a space and no braces", "<answer>\\boxed 9</answer>", "9"],
  ];
  for (const [what, response, want] of cases) it(what, () => assert.equal(extractMathAnswer(response), want));
});

describe("the LaTeX reader only writes arithmetic", () => {
  it("reads \\frac, \\sqrt[3]{}, powers and \\pi", () => {
    assert.equal(latexToSympy("\\frac{1}{2}"), "((1)/(2))");
    assert.match(latexToSympy("\\sqrt[3]{x}^2+\\pi"), /\*\*\(1\/\(3\)\)/);
  });
  it("refuses names outside the allowlist, attribute access and quotes", () => {
    for (const bad of ["__import__(os)", "x.real", "exec(1)", "'a'", "\\foo{1}"]) {
      assert.throws(() => latexToSympy(normaliseMath(bad)), LatexError, bad);
    }
  });
});

describe("math equivalence (table)", () => {
  let pool: EvalWorkerPool;
  let judge: MathJudge;
  before(async () => {
    pool = await EvalWorkerPool.start({ workers: 2, math: true });
    judge = new MathJudge(pool);
  });
  after(() => pool.close());

  // [predicted, gold, equal?, note]
  const table: [string, string, boolean, string][] = [
    ["\\frac{1}{2}", "0.5", true, "fraction vs decimal"],
    ["0.5", "\\frac12", true, "decimal vs \\frac12"],
    ["1/2", "\\frac{1}{2}", true, "slash vs \\frac"],
    ["\\dfrac{3}{4}", "\\frac{3}{4}", true, "\\dfrac"],
    ["\\tfrac{3}{4}", "0.75", true, "\\tfrac vs decimal"],
    ["0.33", "\\frac{1}{3}", false, "rounded decimal is not 1/3"],
    ["\\sqrt{8}", "2\\sqrt{2}", true, "\\sqrt{8} vs 2\\sqrt{2}"],
    ["2\\sqrt2", "\\sqrt{8}", true, "\\sqrt2 without braces"],
    ["\\sqrt{12}", "3\\sqrt{2}", false, "different surds"],
    ["\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", true, "surd in a fraction"],
    ["\\sqrt[3]{27}", "3", true, "cube root"],
    ["2^{10}", "1024", true, "power"],
    ["10^{-2}", "0.01", true, "negative power"],
    ["\\pi", "3.14159265358979", true, "pi numerically"],
    ["2\\pi", "\\frac{4\\pi}{2}", true, "pi symbolically"],
    ["x^2+2x+1", "(x+1)^2", true, "polynomial identity"],
    ["x^2+1", "(x+1)^2", false, "different polynomials"],
    ["\\frac{x}{2}", "0.5x", true, "symbolic with decimal"],
    ["(1, 2)", "(1,2)", true, "tuple spacing"],
    ["(2, 1)", "(1, 2)", false, "tuple order matters"],
    ["\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", true, "\\left(\\right) tuple"],
    ["[1, 5)", "[1,5)", true, "half-open interval"],
    ["[1, 5)", "[1, 5]", false, "interval ends differ"],
    ["(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", true, "union of intervals"],
    ["(-\\infty, 2] \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", false, "union with a different end"],
    ["\\{1, 2, 3\\}", "\\{3, 2, 1\\}", true, "set in any order"],
    ["1, 2, 3", "3,1,2", true, "bare list in any order"],
    ["1, 2", "1, 2, 3", false, "list of another length"],
    ["30^\\circ", "30", true, "degrees with ^\\circ"],
    ["30°", "30", true, "degree sign"],
    ["45^{\\circ}", "45", true, "degrees with ^{\\circ}"],
    ["50\\%", "50", true, "percent"],
    ["10 \\text{ cm}", "10", true, "unit in \\text"],
    ["12 inches", "12", true, "unit word"],
    ["\\$1,000", "1000", true, "dollars and thousands separator"],
    ["12{,}000", "12000", true, "LaTeX thousands separator {,}"],
    ["1{,}000{,}000", "10^6", true, "{,} twice, against a power"],
    ["5\\text{ dollars}", "5", true, "dollars in \\text"],
    ["x = 5", "5", true, "x = prefix"],
    ["\\text{Yes}", "yes", true, "text answer, case"],
    ["\\text{no}", "yes", false, "different text answers"],
    ["\\text{(C)}", "(C)", true, "choice letter"],
    ["3.0", "3", true, "trailing .0"],
    ["-.5", "-\\frac{1}{2}", true, "leading dot"],
    ["025", "25", true, "leading zero (AIME)"],
    ["\\frac{1}{2", "\\frac{1}{2}", false, "malformed LaTeX: unbalanced brace"],
    ["\\frac{}{}", "1", false, "malformed LaTeX: empty fraction"],
    ["\\foo{3}", "3", false, "unknown command"],
    ["", "3", false, "empty answer"],
    ["e^{i\\pi}", "-1", true, "Euler's identity"],
    ["\\binom{5}{2}", "10", true, "binomial"],
    ["3!", "6", true, "factorial"],
    // Minerva's golds in e-notation, against the way models write them
    ["4.5 \\times 10^{33}", "4.5e33", true, "\\times 10^{n} vs e-notation (positive exponent)"],
    ["3 \\times 10^{8}", "3e8", true, "\\times 10^{n} vs an integer mantissa's e-notation"],
    ["4.6 \\times 10^{33}", "4.5e33", false, "another mantissa vs e-notation"],
    // a command followed by a letter or number across a space (the space must not glue them)
    ["2\\pi r", "2r\\pi", true, "\\pi r vs r\\pi"],
    ["\\pi r^2", "2r^2\\pi", false, "\\pi r^2 vs another multiple"],
    ["\\cot x", "\\frac{\\cos x}{\\sin x}", true, "\\cot x (MATH500's gold) vs cos/sin"],
    ["\\tan x", "\\cot x", false, "another function of x"],
    ["3\\log 2", "\\log 8", true, "\\log with a number argument"],
    ["[-2, 7]", "x \\in [-2,7]", true, "x \\in prefix (MATH500's gold)"],
    // MATH500's vectors and matrices: a row break \\ followed by a space is still a row break
    ["\\begin{pmatrix}-1/3\\\\2/3\\\\5/3\\end{pmatrix}", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", true, "pmatrix spacing"],
    ["\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\\\ \\frac{5}{3} \\end{pmatrix}", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", true, "pmatrix entries as \\frac"],
    ["\\begin{pmatrix} \\frac{1}{3} \\\\ \\frac{2}{3} \\\\ \\frac{5}{3} \\end{pmatrix}", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", false, "pmatrix with one entry's sign wrong"],
    ["\\begin{bmatrix} -1 & 0 \\\\ 0 & -1 \\end{bmatrix}", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", true, "2×2 matrix, bmatrix vs pmatrix"],
    ["\\begin{pmatrix} -1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", false, "2×2 matrix, one entry differs"],
    // \pm stands for both values (MATH500's golds "1 \pm \sqrt{19}", "3 \pm 2 \sqrt{2}", "\{1\pm\sqrt{5},-2\}")
    ["1+\\sqrt{19}, 1-\\sqrt{19}", "1 \\pm \\sqrt{19}", true, "\\pm gold vs both roots listed"],
    ["1-\\sqrt{19}, 1+\\sqrt{19}", "1 \\pm \\sqrt{19}", true, "\\pm gold vs both roots in the other order"],
    ["1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}", true, "\\pm answer vs both roots listed as gold"],
    ["3+2\\sqrt2, 3-2\\sqrt2", "3 \\pm 2 \\sqrt{2}", true, "\\pm with a coefficient"],
    ["\\frac{-1+\\sqrt{5}}{2}, \\frac{-1-\\sqrt{5}}{2}", "\\frac{-1 \\pm \\sqrt{5}}{2}", true, "\\pm inside a fraction"],
    ["1+\\sqrt5, 1-\\sqrt5, -2", "\\{1\\pm\\sqrt{5},-2\\}", true, "\\pm inside a set"],
    ["1 \\pm \\sqrt{18}", "1 \\pm \\sqrt{19}", false, "\\pm with another surd"],
    ["1+\\sqrt{19}", "1 \\pm \\sqrt{19}", false, "one root of a \\pm gold"],
    ["1+\\sqrt{19}, 1+\\sqrt{19}", "1 \\pm \\sqrt{19}", false, "one root twice"],
    ["2 \\mp 1", "3, 1", true, "\\mp"],
    // a base subscript (MATH500's golds "52_8", "4210_{5}", "2516_8"): the digits in the asked base
    ["1011_2", "1011_2", true, "base subscript, same text"],
    ["1011_{2}", "1011_2", true, "base subscript in braces"],
    ["1011", "1011_2", true, "the digits without the subscript"],
    ["4210_5", "4210_{5}", true, "gold's subscript in braces"],
    ["52_8", "52", true, "subscript in the answer only"],
    ["11", "1011_2", false, "the value in base 10 is not the asked base"],
    ["1001_2", "1011_2", false, "other digits"],
    ["10101001110_2", "2516_8", false, "the same number in another base than asked"],
    ["123_{4}", "123_{5}", false, "same digits, another base"],
  ];
  for (const [a, b, want, note] of table) {
    it(`${note}: ${JSON.stringify(a)} vs ${JSON.stringify(b)} → ${want ? "equal" : "different"}`, async () => {
      const v = await judge.equivalent(a, b);
      assert.equal(v.equal, want, JSON.stringify(v));
    });
  }

  it("a comparison that runs past its limit is wrong, and the next one still works", async () => {
    const slow = new MathJudge(pool, 300);
    const v = await slow.equivalent("(x+1)^{200}-(x-1)^{200}+x^{3}", "x^{3}+(x+1)^{200}-(x-1)^{200}+1");
    assert.equal(v.equal, false);
    assert.ok((await judge.equivalent("2", "2.0")).equal);
  });

  it("minerva keeps units (its answers are quantities)", () => {
    assert.equal(normaliseMath("1.6 cm", { units: false }), "1.6cm");
    assert.equal(normaliseMath("1.6 cm", { units: true }), "1.6");
  });
});
