import { test } from "node:test";
import assert from "node:assert/strict";
import { bannedErrorKeyword, errorGold, errorGoldOfRuns, NO_ERROR } from "../../azr/error-task.ts";
import { errorCorrect } from "../../azr/rewards.ts";

test("error task - the gold answer from the executor's verdict of the same run", () => {
  const cases: [Parameters<typeof errorGold>[0], ReturnType<typeof errorGold>][] = [
    [{ ok: true, reason: "valid", message: "" }, { ok: true, gold: NO_ERROR }],
    [{ ok: false, reason: "exception", message: "ZeroDivisionError: division by zero" }, { ok: true, gold: "ZeroDivisionError" }],
    [{ ok: false, reason: "exception", message: "KeyError: 'a'" }, { ok: true, gold: "KeyError" }],
    [{ ok: false, reason: "exception", message: "StopIteration: " }, { ok: true, gold: "StopIteration" }],
    [{ ok: false, reason: "timeout", message: "did not finish within 10000 ms" }, { ok: false, reason: "timeout", message: "did not finish within 10000 ms" }],
    [{ ok: false, reason: "non-deterministic", message: "two calls…" }, { ok: false, reason: "non-deterministic", message: "two calls…" }],
    [{ ok: false, reason: "output not a literal", message: "f returned a generator" }, { ok: false, reason: "output not a literal", message: "f returned a generator" }],
  ];
  for (const [v, want] of cases) assert.deepEqual(errorGold(v), want, JSON.stringify(v));
  const unreadable = errorGold({ ok: false, reason: "exception", message: "<unprintable exception>" });
  assert.equal(unreadable.ok, false, "an exception whose type cannot be read is not a task");
});

test("error task - banned error keywords are name tokens, not text in strings or comments", () => {
  assert.equal(bannedErrorKeyword("def f(a):\n    raise ValueError(a)", ["raise"]), "raise");
  assert.equal(bannedErrorKeyword("def f(a):\n    return 'raise' + a  # raise", ["raise"]), undefined);
  assert.equal(bannedErrorKeyword("def f(a):\n    assert a > 0\n    return a", ["raise", "assert"]), "assert");
  assert.equal(bannedErrorKeyword("def f(a):\n    raise ValueError(a)", []), undefined);
  assert.equal(bannedErrorKeyword("def f(a):\n    return 'unterminated", ["raise"]), undefined, "left to the executor's syntax check");
});

test("error task - answers compare by name, case-insensitively; an empty gold is never matched", () => {
  assert.equal(errorCorrect("zerodivisionerror", "ZeroDivisionError"), true);
  assert.equal(errorCorrect("NoError", NO_ERROR), true);
  assert.equal(errorCorrect("ValueError", "TypeError"), false);
  assert.equal(errorCorrect("", ""), false);
});

test("error task - two runs must agree on the gold; the first invalid run decides", () => {
  const raise = (t: string) => ({ ok: false, reason: "exception", message: `${t}: boom` });
  const fine = { ok: true, reason: "valid", message: "" };
  assert.deepEqual(errorGoldOfRuns([raise("KeyError"), raise("KeyError")]), { ok: true, gold: "KeyError" });
  assert.deepEqual(errorGoldOfRuns([fine, fine]), { ok: true, gold: NO_ERROR });
  assert.deepEqual(errorGoldOfRuns([raise("KeyError"), fine]), { ok: false, reason: "non-deterministic", message: "separate runs on the same input ended in KeyError and NoError" });
  assert.deepEqual(errorGoldOfRuns([raise("KeyError"), raise("IndexError")]).ok, false);
  assert.deepEqual(errorGoldOfRuns([{ ok: false, reason: "timeout", message: "t" }, fine]), { ok: false, reason: "timeout", message: "t" });
});
