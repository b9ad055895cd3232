/** make test's file order (test/helpers/schedule.ts): longest first, unmeasured first of all, stable. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTimes, schedule } from "../helpers/schedule.ts";

test("test schedule - longest first, a file never measured before every measured one, ties by path", () => {
  const seconds = { "test/a.test.ts": 5, "test/b.test.ts": 60, "test/c.test.ts": 5, "test/gone.test.ts": 99 };
  assert.deepEqual(schedule(["test/a.test.ts", "test/new.test.ts", "test/c.test.ts", "test/b.test.ts"], seconds), ["test/new.test.ts", "test/b.test.ts", "test/a.test.ts", "test/c.test.ts"]);
});

test("test schedule - times are read from '<file> <seconds>' lines; other lines are skipped", () => {
  const text = ["test/x/a.test.ts 12.345", "FAILED: test/x/b.test.ts (exit 1; log runs/…)", "test/x/b.test.ts 3.01", "", "test/x/a.test.ts 13.0"].join("\n");
  assert.deepEqual(parseTimes(text), { "test/x/a.test.ts": 13, "test/x/b.test.ts": 3 });
});
