import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_TASK_TYPES, groupKey, groupsFor, parseGroupKey, REFERENCE_NAME } from "../../azr/tasks.ts";

test("tasks - three default types make six groups; error is optional", () => {
  assert.deepEqual(DEFAULT_TASK_TYPES, ["deduction", "abduction", "induction"]);
  assert.deepEqual(groupsFor().map((g) => groupKey(g.role, g.type)), [
    "propose/deduction", "propose/abduction", "propose/induction", "solve/deduction", "solve/abduction", "solve/induction",
  ]);
  assert.equal(groupsFor([...DEFAULT_TASK_TYPES, "error"]).length, 8);
  assert.throws(() => groupsFor(["deduction", "deduction"]), /listed twice/);
  assert.throws(() => groupsFor(["nope" as never]), /unknown task type 'nope'/);
  assert.deepEqual(parseGroupKey("solve/abduction"), { role: "solve", type: "abduction" });
  assert.throws(() => parseGroupKey("solve"), /not a group key/);
  assert.equal(REFERENCE_NAME.abduction, "code_i");
});
