/**
 * Shape arithmetic for the graph builder. A dim is a number (known at build time) or a symbol
 * such as "B" or "B*T" (a product of symbols and numbers), so one graph serves every batch size
 * and KV-cache length while shapes stay checkable. Covers: numpy broadcasting, products and
 * quotients of dims. Not: general symbolic algebra (sums stay opaque strings like "S+1").
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

export class ShapeError extends Error {
  override name = "ShapeError";
}

/** Splits a dim into factors: "B*T" → ["B","T"], 6 → [6]. An opaque sum stays one factor. */
function factors(d: Dim): Dim[] {
  if (typeof d === "number") return [d];
  if (/[+\-/()]/.test(d)) return [`(${d})`.replace(/^\(\((.*)\)\)$/, "($1)")];
  return d.split("*").map((f) => (/^\d+$/.test(f) ? Number(f) : f));
}

function fromFactors(num: Dim[], den: Dim[] = []): Dim {
  const syms: string[] = [];
  let n = 1;
  for (const f of num) typeof f === "number" ? (n *= f) : syms.push(f);
  let d = 1;
  for (const f of den) {
    if (typeof f === "number") d *= f;
    else {
      const i = syms.indexOf(f);
      if (i < 0) return `${fromFactors(num)}/${fromFactors(den)}`;
      syms.splice(i, 1);
    }
  }
  if (n % d !== 0) return `${fromFactors(num)}/${fromFactors(den)}`;
  n /= d;
  if (syms.length === 0) return n;
  return [...(n === 1 ? [] : [String(n)]), ...syms.sort()].join("*");
}

export function product(dims: Shape): Dim {
  return fromFactors(dims.flatMap(factors));
}

export function quotient(a: Dim, b: Dim): Dim {
  return fromFactors(factors(a), factors(b));
}

export function sameDim(a: Dim, b: Dim): boolean {
  return typeof a === typeof b ? a === b : false;
}

export function broadcastShapes(a: Shape, b: Shape, what: string): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === "number" && typeof y === "number")
      throw new ShapeError(`${what}: cannot broadcast [${a}] with [${b}] (dim ${i}: ${x} vs ${y})`);
    else out.push(typeof x === "number" ? x : y); // a symbol meets a number or another symbol: trust the caller
  }
  return out;
}

export function fmtShape(s: Shape): string {
  return `[${s.join(",")}]`;
}
