/**
 * The torch engine's failure paths, each with a real Python process: a Python exception arrives as
 * TorchWorkerError with its traceback; a worker that dies fails the pending call with
 * TorchWorkerDiedError (no hang); a CPU-only torch asked for CUDA, an interpreter without torch,
 * and a missing interpreter each give TorchUnavailableError naming what to install.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findPython } from "../../model/python.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { TorchEngineError, TorchUnavailableError, TorchWorkerDiedError, TorchWorkerError } from "../../model/torch/errors.ts";
import { makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const modelDir = makeModelDir(join(tmp, "m"), "llama", 1);

test("errors - a Python exception becomes TorchWorkerError with the traceback; a dying worker fails calls, never hangs", async () => {
  await using engine = await createTorchEngine({ modelDir, threads: 1 });
  const err = await engine.score({ prompts: [[]], responses: [[1]] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof TorchWorkerError && err instanceof TorchEngineError);
  assert.equal(err.pythonType, "ValueError");
  assert.match(err.message, /score: ValueError: sequence 0: empty prompt/);
  assert.match(err.pythonTraceback, /training\.py.*in response_logprobs/);
  assert.equal((await engine.score({ prompts: [[1]], responses: [[2]] }))[0]!.length, 1);

  // then a worker that dies mid-call fails that call, the queued one and later ones with TorchWorkerDiedError
  const crash = engine.worker.call("crash_for_test", { code: 9 });
  const queued = engine.score({ prompts: [[1]], responses: [[2]] }); // waits behind the crash in the worker's FIFO
  await assert.rejects(crash, (e: unknown) => e instanceof TorchWorkerDiedError && e.exitCode === 9 && /exited with code 9 during crash_for_test/.test(e.message));
  await assert.rejects(queued, (e: unknown) => e instanceof TorchWorkerDiedError && /during score/.test(e.message));
  await assert.rejects(engine.score({ prompts: [[1]], responses: [[2]] }), TorchWorkerDiedError);
});

test("errors - a CUDA device with CPU-only torch is TorchUnavailableError naming the fix", async () => {
  const err = await createTorchEngine({ modelDir, device: "cuda" }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof TorchUnavailableError, String(err));
  assert.match(err.message, /CPU-only build.*Install a CUDA build of PyTorch/s);
  assert.equal((err.cause as TorchWorkerError).pythonType, "TorchUnavailable");
});

test("errors - an interpreter without torch is TorchUnavailableError naming python3-torch", async () => {
  // the real interpreter with torch made unimportable (sys.modules entry None), running the real worker
  const py = join(tmp, "python-without-torch");
  writeFileSync(py, `#!/bin/sh\nexec ${findPython().path} -c "import sys, runpy; sys.modules['torch'] = None; runpy.run_module('azr_torch.worker', run_name='__main__')"\n`);
  chmodSync(py, 0o755);
  const err = await createTorchEngine({ modelDir, python: py }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof TorchUnavailableError, String(err));
  assert.match(err.message, /cannot import torch.*apt-get install python3-torch/s);
});

test("errors - a missing interpreter is TorchUnavailableError naming AZR_PYTHON", async () => {
  const err = await createTorchEngine({ modelDir, python: join(tmp, "no-such-python") }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof TorchUnavailableError, String(err));
  assert.match(err.message, /not found; install python3 or set AZR_PYTHON/);
});
