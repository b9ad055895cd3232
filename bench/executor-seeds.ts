/**
 * The seed program/input pairs of ../shared/azr-seeds (every deduction/abduction seed and every
 * input of every induction seed) and the pooled-vs-strict verdict comparison over them, shared by
 * bench/executor.bench.ts (all pairs), bench/executor-modes.ts (all pairs, exits 1 on a
 * difference) and test/executor/modes.test.ts (a sample, in make test).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProposalVerdict } from "../actors/code-executor/index.ts";
import { SEEDS_DIR } from "../test/helpers/shared.ts";

export interface SeedPair { program: string; input: string; output: string }

export function loadSeedPairs(dir: string = SEEDS_DIR): SeedPair[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((n) => n.endsWith(".jsonl")).sort();
  } catch {
    throw new Error(`no seed folder at ${dir}: put the azr-seeds data beside the repository (../shared/azr-seeds) or set AZR_SHARED`);
  }
  const pairs: SeedPair[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (!line.trim()) continue;
      const d = JSON.parse(line) as { snippet: string; input?: string; output?: string; inputs?: string[]; outputs?: string[] };
      if (d.inputs) d.inputs.forEach((input, i) => pairs.push({ program: d.snippet, input, output: d.outputs![i] }));
      else pairs.push({ program: d.snippet, input: d.input!, output: d.output! });
    }
  }
  return pairs;
}

/** What must agree between the modes: the reason, its message and the outputs. */
export const verdictKey = (v: ProposalVerdict): string => JSON.stringify([v.reason, v.message, v.outputs]);

/** Indices whose verdicts differ between two runs over the same pairs. */
export function differingVerdicts(a: ProposalVerdict[], b: ProposalVerdict[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (!a[i] || !b[i] || verdictKey(a[i]) !== verdictKey(b[i])) out.push(i);
  return out;
}
