/**
 * Pooled and strict verdicts on every seed pair of ../shared/azr-seeds must be identical
 * (azr-spec §5.5): runs both modes over all pairs (make test runs a sample of this:
 * test/executor/modes.test.ts), prints every difference, exits 1 if there is one.
 *
 *   node --import tsx bench/executor-modes.ts [--limit N] [--workers N]
 */
import { availableParallelism } from "node:os";
import { CodeExecutor, type ExecutionMode, type ProposalVerdict } from "../actors/code-executor/index.ts";
import { differingVerdicts, loadSeedPairs, verdictKey, type SeedPair } from "./executor-seeds.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

async function verdicts(mode: ExecutionMode, pairs: SeedPair[], workers: number): Promise<ProposalVerdict[]> {
  const ex = await CodeExecutor.start({ mode, workers });
  try {
    const out: ProposalVerdict[] = [];
    for await (const v of ex.validateProposals(pairs.map((p) => ({ type: "deduction" as const, program: p.program, input: p.input })))) out[v.index] = v;
    return out;
  } finally {
    await ex.close();
  }
}

const all = loadSeedPairs();
const pairs = all.slice(0, arg("--limit", all.length));
const workers = arg("--workers", availableParallelism());
const t0 = performance.now();
const pooled = await verdicts("pooled", pairs, workers);
const strict = await verdicts("strict", pairs, workers);
const differ = differingVerdicts(pooled, strict);
for (const i of differ) console.log(`#${i}\n  pooled ${verdictKey(pooled[i])}\n  strict ${verdictKey(strict[i])}\n  program: ${pairs[i].program.slice(0, 300).replace(/\n/g, "\n           ")}\n  input: ${pairs[i].input}`);
console.log(`${pairs.length} seed pairs, ${differ.length} verdicts differ between pooled and strict (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
process.exitCode = differ.length ? 1 : 0;
