/**
 * JSON as Python writes it: `Infinity`, `-Infinity` and `NaN` are allowed as numbers (EvalPlus
 * files contain them, and JavaScript's JSON drops them to null). Covers parse and stringify with
 * those three; everything else is plain JSON.
 */
const MARK = "\u0000pyfloat:";

/** JSON.parse that also reads Python's Infinity, -Infinity and NaN (outside strings). */
export function parsePyJson(text: string): unknown {
  if (!/Infinity|NaN/.test(text)) return JSON.parse(text);
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === "\\") out += text[++i];
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    const word = /^(-?Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (!inString && word) {
      out += JSON.stringify(MARK + word[1]);
      i += word[1].length - 1;
      continue;
    }
    out += ch;
  }
  return JSON.parse(out, (_k, v) => {
    if (typeof v === "string" && v.startsWith(MARK)) {
      const w = v.slice(MARK.length);
      return w === "NaN" ? NaN : w === "Infinity" ? Infinity : -Infinity;
    }
    return v;
  });
}

/** JSON.stringify that writes non-finite numbers the way Python's json reads them. */
export function stringifyPyJson(value: unknown): string {
  let special = false;
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v === "number" && !Number.isFinite(v)) {
      special = true;
      return MARK + (Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    }
    return v;
  });
  if (!special) return text;
  return text.replace(/"\\u0000pyfloat:(-?Infinity|NaN)"/g, "$1");
}

/**
 * The source text of one top-level field's value in a JSON object line, untouched (so big
 * integers and floats such as `1e+20` reach Python exactly as written); undefined if absent.
 */
export function rawField(line: string, key: string): string | undefined {
  let depth = 0;
  let i = 0;
  const n = line.length;
  const skipString = (at: number): number => {
    let j = at + 1;
    while (j < n && line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
    return j + 1;
  };
  while (i < n) {
    const ch = line[i];
    if (ch === '"') {
      const end = skipString(i);
      if (depth === 1) {
        let k = end;
        while (k < n && /\s/.test(line[k])) k++;
        if (line[k] === ":" && JSON.parse(line.slice(i, end)) === key) {
          k++;
          while (k < n && /\s/.test(line[k])) k++;
          return line.slice(k, valueEnd(line, k));
        }
      }
      i = end;
      continue;
    }
    if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
    i++;
  }
  return undefined;
}

/** Index just past the JSON value starting at `start`. */
function valueEnd(line: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < line.length) {
    const ch = line[i];
    if (ch === '"') {
      i++;
      while (i < line.length && line[i] !== '"') i += line[i] === "\\" ? 2 : 1;
      i++;
      if (depth === 0) return i;
      continue;
    }
    if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") {
      if (depth === 0) return i;
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (ch === "," )) return i;
    i++;
  }
  return i;
}
