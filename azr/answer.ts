/**
 * Reading a model's response: the R1 format predicate, the `<answer>` text, fenced blocks and
 * the fallbacks of azr-spec §5.1 and §6.2.
 *
 * Covers: pure string parsing. Not: literal parsing (literal.ts), program structure
 * (pysource.ts), proposal assembly (proposal.ts).
 *
 * Departures from the reference:
 * - the generation is the decoded response alone; we never split the text on `Assistant:`
 *   (the reference does, which breaks when a program contains that string);
 * - fence languages are matched case-insensitively and `py` / `python3` count as `python`.
 */

/** Paper / reference format regex, applied to `<think>` + the decoded response (§5.1). */
export const FORMAT_REGEX = /^<think>[\s\S]*?<\/think>\s*<answer>[\s\S]*?<\/answer>/;

/** Format predicate F: 1 iff the pre-filled `<think>` + response matches {@link FORMAT_REGEX}. */
export function formatOk(response: string): boolean {
  return FORMAT_REGEX.test("<think>" + response);
}

/**
 * The answer: text after the last `<answer>` up to the next `</answer>` (to the end of the text
 * if there is none), stripped; no `<answer>` at all → "".
 */
export function extractAnswer(response: string): string {
  const open = response.lastIndexOf("<answer>");
  if (open < 0) return "";
  const start = open + "<answer>".length;
  const close = response.indexOf("</answer>", start);
  return (close < 0 ? response.slice(start) : response.slice(start, close)).trim();
}

/** A fenced block: its language (lower-cased, python aliases folded, "" if untagged) and body. */
export interface Fence {
  lang: string;
  body: string;
}

const PYTHON_ALIASES = new Set(["python", "py", "python3"]);

export function normaliseFenceLang(lang: string): string {
  const l = lang.trim().toLowerCase();
  return PYTHON_ALIASES.has(l) ? "python" : l;
}

/**
 * Every ```` ```lang ```` … ```` ``` ```` block in order. The opening fence is three backticks,
 * an optional language word on the same line, then a newline; the block ends at the next three
 * backticks. An unterminated block is ignored (a truncated response has no complete fence).
 */
export function findFences(text: string): Fence[] {
  const re = /```[ \t]*([A-Za-z0-9_+.-]*)[ \t]*\r?\n([\s\S]*?)```/g;
  const out: Fence[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ lang: normaliseFenceLang(m[1]), body: m[2] });
  return out;
}

/** Bodies (stripped) of the fences whose language is one of `langs` ("" = untagged), in order. */
export function fencesOf(text: string, ...langs: string[]): string[] {
  const want = new Set(langs.map(normaliseFenceLang));
  return findFences(text).filter((f) => want.has(f.lang)).map((f) => f.body.trim());
}

/** The rest of the line after a `# Input:`-style marker; which one is chosen by `pick`. */
export function markerLine(text: string, label: string, pick: "first" | "last"): string | undefined {
  const re = new RegExp(`#\\s*${label}\\s*:[ \\t]*(.*)`, "gi");
  const hits = [...text.matchAll(re)].map((m) => m[1].trim());
  return pick === "first" ? hits[0] : hits.at(-1);
}

/** Text inside `<tag>…</tag>`; which occurrence is chosen by `pick`. */
export function tagContent(text: string, tag: string, pick: "first" | "last"): string | undefined {
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  const hits = [...text.matchAll(re)].map((m) => m[1].trim());
  return pick === "first" ? hits[0] : hits.at(-1);
}

/**
 * A solver's answer value for abduction (`kind` "input") or deduction / error (`kind` "output"):
 * the last ```` ```input ```` (resp. output) fence; else a `# Input:` line; else an
 * `<input>…</input>` tag; else the whole answer (§6.2).
 */
export function extractSolverValue(answer: string, kind: "input" | "output"): string {
  const label = kind === "input" ? "Input" : "Output";
  return (
    fencesOf(answer, kind).at(-1) ??
    markerLine(answer, label, "last") ??
    tagContent(answer, kind, "last") ??
    answer.trim()
  );
}

/** Induction solver: the last fenced block tagged python (or an alias) or untagged; none → undefined (F = 0). */
export function extractSolverProgram(answer: string): string | undefined {
  return fencesOf(answer, "python", "").at(-1);
}

/** Error-type solver: the first word (before a space or a colon), for a case-insensitive compare. */
export function extractErrorName(answer: string): string {
  const v = extractSolverValue(answer, "output");
  return v.trim().split(/[\s:]/, 1)[0] ?? "";
}
