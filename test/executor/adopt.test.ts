/**
 * Libraries adopted on a program's behalf (azr_worker running.make_adopt_imports) come with the
 * submodules they import lazily (policy.ADOPT_WITH): sympy's evalf and sympify load
 * sympy.sets.setexpr and sympy.combinatorics on first use, which changed the package's dict inside
 * the task and cost a worker replacement (and sympy's import again) each time. sympy itself is one
 * of the large libraries (policy.LARGE_MODULES) that load only in the zygote: a pooled worker that
 * ran sympy programs has no sympy in its own process (its integrity check stays ~550 dicts long).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { triplet, useExecutor } from "./helpers.ts";

const x = useExecutor({ workers: 1 });

const SYMPIFY = "from sympy import sympify\n\ndef f(expr):\n    try:\n        return str(sympify(expr).evalf())\n    except Exception as e:\n        return 'error: ' + type(e).__name__";

test("adopted sympy: the lazy imports of evalf and sympify replace no worker", { timeout: 120_000 }, async () => {
  const before = { ...x.ex.stats().workersReplaced };
  const probe = triplet("import sys\ndef f(a):\n    return sorted(m for m in ('sympy', 'mpmath') if m in sys.modules)", "0");
  const s = x.ex.validateProposals([triplet(SYMPIFY, "'sin(0)'"), triplet(SYMPIFY, "'exp(1) + log(5)'"), triplet("def f(a):\n    return a + 1", "1"), probe]);
  const vs = [];
  for await (const v of s) vs[v.index] = v;
  assert.deepEqual(vs.map((v) => [v.reason, v.outputs]), [["valid", ["'0'"]], ["valid", ["'4.32771974089315'"]], ["valid", ["2"]], ["valid", ["[]"]]]);
  assert.deepEqual(s.stats().workersReplaced, {}, `replaced: ${JSON.stringify(s.stats().workersReplaced)} (before: ${JSON.stringify(before)})`);
  assert.equal(s.stats().rerunStrict, 0);
});
