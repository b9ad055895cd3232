/**
 * The pooled worker's integrity check (azr_worker/integrity.py), run in the real Python without
 * the sandbox: the dict version tags it reads must find a patched module, a patched class
 * whatever its metaclass, patched builtins — and nothing when nothing changed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";

const WORKER_DIR = fileURLToPath(new URL("../../actors/code-executor/", import.meta.url));

// Everything runs inside main(): an assignment to a global would change __main__'s dict, which
// the check (rightly) reports.
const PY = String.raw`
import builtins, collections.abc, fractions, io, json, os, sys
sys.path.insert(0, sys.argv[1])
from azr_worker.integrity import make_integrity

def main():
    fd = os.open("/dev/null", os.O_PATH)
    st = os.fstat(fd)
    ident = (st.st_dev, st.st_ino)
    streams = (io.StringIO(""), io.StringIO(), io.StringIO())
    integrity, refresh = make_integrity(fd, fd, ident, ident, os.getcwd(), streams, [], (), False)
    cells = dict(zip(integrity.__code__.co_freevars, integrity.__closure__))["snap"].cell_contents[0][10]
    out = {"reader": cells.__name__, "codes": []}
    def step(change):
        change()
        out["codes"].append(integrity())
        refresh()
    step(lambda: None)
    step(lambda: setattr(json, "dumps", None))
    step(lambda: setattr(fractions.Fraction, "x", 1))  # metaclass ABCMeta
    step(lambda: setattr(collections.abc.Mapping, "get", None))
    step(lambda: setattr(builtins, "abs", len))
    step(lambda: None)
    return out

os.write(1, json.dumps(main()).encode())
`;

test("integrity: the tag reader finds a patched module, class (any metaclass) and builtins, and nothing else", () => {
  const got = JSON.parse(execFileSync(findPython().path, ["-c", PY, WORKER_DIR], { env: { ...process.env, PYTHONHASHSEED: "0" } }).toString());
  assert.equal(got.reader, "join");
  // -1: unchanged; 0: "modules" (a module's or a class's dict); 1: "builtins".
  assert.deepEqual(got.codes, [-1, 0, 0, 0, 1, -1]);
});
