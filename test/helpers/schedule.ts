/**
 * The order `make test` hands the test files to node's runner: longest first. The runner starts
 * files in the order given, `--test-concurrency` at a time, so a long file that happens to sort
 * last runs alone at the end while the other slot sits idle; longest-first keeps both slots busy
 * to the end. Durations are measured ones (test/durations.json, written by `--record`); a file
 * with no measurement yet goes first, so a new slow file cannot become the tail.
 *
 *   node --import tsx test/helpers/schedule.ts                   print the files, one per line
 *   node --import tsx test/helpers/schedule.ts --record <times>  store durations: lines "<file> <seconds>"
 *
 * node 20's reporters flatten every file's tests to the top level (no per-file duration), so the
 * times come from running each file as its own `node --test`, two at a time (`make test-times`).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DURATIONS = join(ROOT, "test", "durations.json");

/** Every *.test.ts under test/, as paths relative to the repository root. */
function testFiles(dir = join(ROOT, "test")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.isFile() && e.name.endsWith(".test.ts") ? [relative(ROOT, p)] : [];
  });
}

/** Longest first; unmeasured files before all of them; ties by path, so the order is stable. */
export function schedule(files: readonly string[], seconds: Readonly<Record<string, number>>): string[] {
  const cost = (f: string) => seconds[f] ?? Infinity;
  return [...files].sort((a, b) => cost(b) - cost(a) || a.localeCompare(b));
}

/** Durations from lines "<file> <seconds>" (other lines ignored); a file listed twice keeps its last. */
export function parseTimes(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\S+\.test\.ts)\s+([\d.]+)\s*$/.exec(line.trim());
    if (m) out[relative(ROOT, join(ROOT, m[1]!))] = Math.round(Number(m[2]) * 10) / 10;
  }
  return out;
}

function readDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS, "utf8")) as Record<string, number>;
  } catch {
    return {}; // none recorded: every file is unmeasured, and the order is by path
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [flag, timesFile] = process.argv.slice(2);
  if (flag === "--record") {
    if (!timesFile) throw new Error("--record needs a file of lines '<test file> <seconds>' (make test-times writes one)");
    const seconds = parseTimes(readFileSync(timesFile, "utf8"));
    const sorted = Object.fromEntries(Object.entries(seconds).sort(([a], [b]) => a.localeCompare(b)));
    writeFileSync(DURATIONS, JSON.stringify(sorted, null, 1) + "\n");
    console.log(`${Object.keys(sorted).length} files' durations written to ${relative(ROOT, DURATIONS)}`);
  } else {
    console.log(schedule(testFiles(), readDurations()).join("\n"));
  }
}
