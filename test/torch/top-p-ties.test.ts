/**
 * Top-p with exact ties at the nucleus boundary: the torch sampler (azr_torch/sampling.py, called
 * directly) keeps the same tokens as the ORT sampler (model/generate/sampling.ts, the reference):
 * tokens by descending probability, ties by lower id, the shortest prefix whose mass reaches topP.
 * ORT's kept set is read off as the support of many seeded draws. Top-k with exact ties at the
 * k-th value keeps exactly k, the lower ids, on both sides; vocabularies over 256 (where ORT's
 * top-p starts from a top-256 heap) break ties the same way.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng, sampleToken } from "../../model/generate/sampling.ts";
import { findPython } from "../../model/python.ts";

/** log-probs with `p` at `at` and (numerically) nothing elsewhere: exp(-1e4) is 0 in fp32 and fp64. */
function row(V: number, at: Record<number, number>): number[] {
  return Array.from({ length: V }, (_, i) => (at[i] ? Math.log(at[i]!) : -1e4));
}

interface Case { what: string; lp: number[]; topP: number; temperature: number; keep: number[]; topK?: number }
const quarter = (ids: number[]) => Object.fromEntries(ids.map((i) => [i, 0.25]));
const CASES: Case[] = [
  { what: "4 tied, topP = 2 of them exactly", lp: row(8, quarter([0, 1, 2, 3])), topP: 0.5, temperature: 1, keep: [0, 1] },
  { what: "4 tied at scattered ids", lp: row(8, quarter([6, 1, 4, 3])), topP: 0.5, temperature: 1, keep: [1, 3] },
  { what: "4 tied, topP = 3 of them exactly", lp: row(8, quarter([5, 2, 7, 0])), topP: 0.75, temperature: 1, keep: [0, 2, 5] },
  { what: "4 tied, topP inside the third", lp: row(8, quarter([0, 1, 2, 3])), topP: 0.6, temperature: 1, keep: [0, 1, 2] },
  { what: "8 tied at 1/8, topP = 3/8, tempered", lp: row(8, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [i, 0.125]))), topP: 0.375, temperature: 0.7, keep: [0, 1, 2] },
  { what: "a leader, then 4 tied across the boundary", lp: row(16, { 9: 0.5, 3: 0.125, 12: 0.125, 1: 0.125, 7: 0.125 }), topP: 0.7, temperature: 1, keep: [1, 3, 9] },
  { what: "300-token vocabulary, 4 tied at scattered ids", lp: row(300, quarter([299, 150, 7, 3])), topP: 0.5, temperature: 1, keep: [3, 7] },
  { what: "top-k 2 of 4 tied", lp: row(8, quarter([6, 1, 4, 3])), topP: 1, topK: 2, temperature: 1, keep: [1, 3] },
  { what: "top-k 3: a leader and 2 of 4 tied", lp: row(300, { 200: 0.4, 250: 0.15, 20: 0.15, 120: 0.15, 60: 0.15 }), topP: 1, topK: 3, temperature: 1, keep: [20, 60, 200] },
  { what: "top-k 3 then top-p 0.7 over the 3 (renormalised: 0.57, 0.21, 0.21)", lp: row(300, { 200: 0.4, 250: 0.15, 20: 0.15, 120: 0.15, 60: 0.15 }), topP: 0.7, topK: 3, temperature: 1, keep: [20, 200] },
];

/** ORT: the tokens any of 2,000 seeded draws picks (each kept one has ≥ 1/8 of the mass). */
function ortKept(c: Case): number[] {
  const lp = Float32Array.from(c.lp);
  const seen = new Set<number>();
  for (let s = 0; s < 2000; s++) seen.add(sampleToken(lp, { temperature: c.temperature, topK: c.topK ?? 0, topP: c.topP }, Rng.forSequence(s, 0)));
  return [...seen].sort((a, b) => a - b);
}

/** torch: the ids filter_logits leaves finite, for every case in one interpreter. */
function torchKept(cases: Case[]): number[][] {
  const script = `
import json, sys, torch
from azr_torch.sampling import filter_logits
out = []
for c in json.load(sys.stdin):
    z = torch.tensor([c["lp"]], dtype=torch.float32) / c["temperature"]
    out.append(torch.isfinite(filter_logits(z, c.get("topK") or 0, c["topP"]))[0].nonzero()[:, 0].tolist())
print(json.dumps(out))`;
  const out = execFileSync(findPython().path, ["-c", script], {
    input: JSON.stringify(cases), encoding: "utf8",
    env: { ...process.env, PYTHONPATH: fileURLToPath(new URL("../../model/torch", import.meta.url)) },
  });
  return JSON.parse(out) as number[][];
}

test("sampling - top-p and top-k with exact ties keep the same tokens in torch as in ORT (lower ids first; the shortest prefix reaching topP; exactly k)", () => {
  const torch = torchKept(CASES);
  CASES.forEach((c, i) => {
    assert.deepEqual(ortKept(c), c.keep, `ORT, ${c.what}`);
    assert.deepEqual(torch[i], c.keep, `torch, ${c.what}`);
  });
});
