/**
 * cli/commands/ops-format.ts: the figures the ops tables print, at the rounding boundaries where
 * the unit or the precision must follow the value as printed, and table alignment on cells that
 * look almost numeric.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { age, bytes, ms, rate, table } from "../../cli/commands/ops-format.ts";

test("ops-format - bytes: the unit follows the printed value (no 1024B, 1024KiB or 10.0KiB)", () => {
  assert.equal(bytes(0), "0B");
  assert.equal(bytes(1023), "1023B");
  assert.equal(bytes(1023.7), "1.0KiB");
  assert.equal(bytes(1536), "1.5KiB");
  assert.equal(bytes(10 * 1024 - 1), "10KiB");
  assert.equal(bytes(1024 * 1024 - 1), "1.0MiB");
  assert.equal(bytes(5 * 1024 ** 3), "5.0GiB");
});

test("ops-format - rate and ms: the precision follows the printed value (no 1000, 10.0 or 100.0)", () => {
  assert.equal(rate(0), "0.0");
  assert.equal(rate(9.94), "9.9");
  assert.equal(rate(9.97), "10");
  assert.equal(rate(999.4), "999");
  assert.equal(rate(999.7), "1.0k");
  assert.equal(rate(12_345), "12.3k");
  assert.equal(ms(null), "-");
  assert.equal(ms(99.94), "99.9");
  assert.equal(ms(99.97), "100");
  assert.equal(ms(1234.5), "1235");
});

test("ops-format - age rounds to whole seconds before choosing the unit", () => {
  assert.equal(age(59_600), "1m00s");
  assert.equal(age(3_599_600), "1h00m");
  assert.equal(age(-5), "0s");
});

test("ops-format - table: figures right-aligned, names left; a long digit run in a name does not stall it", { timeout: 5000 }, () => {
  const t = table(["NAME", "RSS", "RESTARTS"], [["a", "12MiB", "0/3"], ["bb", "1.5KiB", "-"]]);
  assert.deepEqual(t.split("\n"), ["NAME     RSS  RESTARTS", "a      12MiB       0/3", "bb    1.5KiB         -"]);
  const long = "1".repeat(27) + "-worker"; // the old pattern backtracked 2^27 ways here (~1 s; each digit more doubles it)
  const started = performance.now();
  assert.equal(table(["NODE"], [[long]]), `NODE\n${long}`);
  assert.ok(performance.now() - started < 100);
});
