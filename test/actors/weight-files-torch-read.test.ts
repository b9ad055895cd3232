/**
 * The torch worker's read of a weight file (model/torch/azr_torch/weight_files.py): the header it
 * checks and the tensors it copies come from one file, even when another file is renamed over the
 * name between the two (a version published again, a restarted learner's), so a load never
 * stops half way with the parameters neither version. A stand-in engine of two tensors; Debian's
 * python3-torch.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const PY = `
import os, sys, torch
from azr_torch import weight_files as wf
from azr_torch.safetensors_io import save_file
d = sys.argv[1]
path, other = os.path.join(d, "weights-v1.safetensors"), os.path.join(d, "other.safetensors")
save_file({"a": torch.ones(2), "b": torch.ones(2)}, path)
save_file({"a": torch.full((2,), 9.0), "zzz": torch.full((2,), 9.0)}, other)  # not this model's: 'zzz'

class Engine:
    lora = None
    version = 0
    def __init__(self): self.p = {"a": torch.zeros(2), "b": torch.zeros(2)}
    def _sync_targets(self): return self.p
    def _named_for_sync(self): return self.p
    def full_shape(self, name, shape): return tuple(shape)
    def shard(self, name, t): return t

real = wf.iter_file
def replaced_then_read(p):
    os.replace(other, path)  # lands after the header check, before the copy
    return real(p)
wf.iter_file = replaced_then_read
e = Engine()
try:
    wf.load_weights_file(e, {"path": path, "version": 1})
    print("loaded", e.version, e.p["a"].tolist(), e.p["b"].tolist())
except Exception as x:
    print("failed", type(x).__name__, x, e.p["a"].tolist(), e.p["b"].tolist())
`;

test("weight files (torch worker) - a file renamed over the name mid-load: the checked file is the one copied, whole", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-torch-read-"));
  try {
    const r = spawnSync("/usr/bin/python3", ["-c", PY, dir], { encoding: "utf8", env: { ...process.env, PYTHONPATH: resolve("model/torch") } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "loaded 1 [1.0, 1.0] [1.0, 1.0]", `the version checked was loaded whole (stderr: ${r.stderr})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
