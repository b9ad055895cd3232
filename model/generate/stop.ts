/**
 * Stop strings, which may be split across token boundaries (and a token may carry text past
 * them). The tail of the generated tokens is decoded each step; once a stop string appears, the
 * text is cut just before its first occurrence and the tokens are cut to the longest prefix whose
 * text lies wholly inside the kept text.
 */
export interface StopMatch {
  text: string;
  /** Tokens kept (a prefix of the generated tokens). */
  keep: number;
}

export type Decode = (ids: number[]) => string;

export class StopChecker {
  private readonly window: number;

  constructor(private readonly stops: string[], private readonly decode: Decode) {
    // A stop string of n UTF-8 bytes spans at most n tokens (byte-level BPE spells a rare
    // character as one token per byte), plus slack for a character the tail starts inside of.
    if (stops.some((s) => s.length === 0)) throw new Error("stop strings must not be empty");
    this.window = Math.max(0, ...stops.map((s) => Buffer.byteLength(s, "utf8"))) + 4;
  }

  get active(): boolean {
    return this.stops.length > 0;
  }

  /** Checks after a token was appended; returns the cut when a stop string has appeared. */
  check(tokens: number[]): StopMatch | undefined {
    if (!this.active) return undefined;
    const tail = this.decode(tokens.slice(-this.window));
    if (!this.stops.some((s) => tail.includes(s))) return undefined;
    const full = this.decode(tokens);
    let cut = full.length;
    for (const s of this.stops) {
      const at = full.indexOf(s);
      if (at >= 0 && at < cut) cut = at;
    }
    const text = full.slice(0, cut);
    let keep = 0;
    // Longest token prefix whose decoded text is a prefix of the kept text.
    for (let n = tokens.length; n >= 0; n--) {
      const t = this.decode(tokens.slice(0, n));
      if (t.length <= text.length && text.startsWith(t) && !t.includes("\uFFFD")) {
        keep = n;
        break;
      }
    }
    return { text, keep };
  }
}
