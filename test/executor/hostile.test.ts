/**
 * The hostile-program suite (issue 10): every program below runs in both modes, each followed by
 * a canary task on the same single worker. Each must get its expected verdict; the canary must
 * get its exact output (nothing the hostile program changed survives); afterwards no process of
 * the executor's uids is left, no file appeared outside the scratch dir, and the host is alive.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { encode } from "@msgpack/msgpack";
import { CodeExecutor, type ProposalCheck, type Reason } from "../../actors/code-executor/index.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { checkAll, validateAll } from "./helpers.ts";

const nats = useNatsServer();
const SECRET = "azr-test-secret-4242";
process.env.AZR_TEST_SECRET = SECRET; // must never reach a sandbox
const HOST_FILES = ["/tmp/azr-hostile-escape", "/work/azr-hostile-escape"];
const TIMEOUT_MS = 1500;

const CANARY = [
  "import math, collections, re",
  "def g(n):",
  "    return 0 if n == 0 else 1 + g(n - 1)",
  "def f(a):",
  "    leak = [n for n in ('x', 'leak') if n in globals()]",
  "    try:",
  "        open('/tmp/scratch/leak').close()",
  "        leak.append('scratch')",
  "    except OSError:",
  "        pass",
  "    import sys",
  "    if 'LD_PRELOAD' in __import__('os').environ:",
  "        leak.append('env')",
  "    if sys.stdin.read():",
  "        leak.append('stdin')",
  "    print('canary')",
  "    return [len([1, 2, 3]), math.sqrt(16.0), sorted(a), str(7), abs(-2), collections.Counter('aab')['a'],",
  "            re.sub('b', 'c', 'abc'), isinstance(1, int), repr(1.5), g(400), leak]",
].join("\n");
const CANARY_OUT = "[3, 4.0, [1, 2, 3], '7', 2, 2, 'acc', True, '1.5', 400, []]";

/** A forged result frame, as a task would write it to every descriptor it can find. */
function fakeFrameLiteral(): string {
  const body = encode({ t: "result", r: { id: 1, stage: "ok", outputs: [[{ literal: true, repr: "'forged'", len: 8 }, { literal: true, repr: "'forged'", len: 8 }]] } });
  const frame = Buffer.concat([Buffer.from([0, 0, 0, body.length]), Buffer.from(body)]);
  return `bytes.fromhex('${frame.toString("hex")}')`;
}

interface Case { name: string; program: string; input?: string; expect: Reason; output?: string; message?: RegExp }

function cases(natsPort: number): Case[] {
  const fake = fakeFrameLiteral();
  return [
    { name: "infinite loop", program: "def f(a):\n    while True:\n        pass", expect: "timeout" },
    { name: "memory bomb", program: "def f(a):\n    x = [0] * 10 ** 9\n    return len(x)", expect: "memory" },
    { name: "fork bomb", program: "import os\ndef f(a):\n    while True:\n        os.fork()", expect: "exception", message: /os\.fork denied/ },
    { name: "thread bomb", program: "import _thread\ndef f(a):\n    while True:\n        _thread.start_new_thread(lambda: None, ())", expect: "exception", message: /can't start new thread/ },
    { name: "deep recursion", program: "def f(a):\n    return f(a + 1)", expect: "exception", message: /RecursionError/ },
    { name: "interpreter crash (SIGSEGV)", program: "import faulthandler\ndef f(a):\n    faulthandler._sigsegv()", expect: "crashed", message: /signal 11 \(SIGSEGV\)/ },
    { name: "huge output", program: "def f(a):\n    return 'x' * 10 ** 6", expect: "output too long", message: /1000002 characters/ },
    { name: "huge printed output", program: "def f(a):\n    for _ in range(2000):\n        print('y' * 5000)\n    return 1", expect: "valid", output: "1" },
    { name: "write outside scratch", program: `def f(a):\n    open('${HOST_FILES[0]}', 'w').write('x')\n    return 1`, expect: "exception", message: /PermissionError/ },
    { name: "write into the project", program: `def f(a):\n    open('${HOST_FILES[1]}', 'w').write('x')\n    return 1`, expect: "exception", message: /PermissionError/ },
    { name: "write a scratch file (allowed, cleaned after)", program: "def f(a):\n    open('/tmp/scratch/leak', 'w').write('x')\n    return 1", expect: "valid", output: "1" },
    { name: "read /etc/passwd", program: "def f(a):\n    return open('/etc/passwd').read()[:50]", expect: "exception", message: /FileNotFoundError/ },
    { name: "read the environment", program: "def f(a):\n    e = __import__('os').environ\n    return sorted(e.keys())", expect: "valid", output: "['HOME', 'LANG', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED']" },
    { name: "read /proc/self/environ", program: "def f(a):\n    return open('/proc/self/environ').read()", expect: "exception", message: /denied/ },
    { name: "socket to the test's nats-server", program: `def f(a):\n    s = __import__('soc' + 'ket').create_connection(('127.0.0.1', ${natsPort}), 1)\n    return s.recv(100)`, expect: "exception", message: /denied/ },
    { name: "subprocess by computed name", program: "def f(a):\n    return __import__('sub' + 'process').check_output(['id'])", expect: "exception", message: /denied/ },
    { name: "ctypes", program: "def f(a):\n    return __import__('ctyp' + 'es').CDLL(None).getpid()", expect: "exception", message: /denied/ },
    { name: "os._exit", program: "import os\ndef f(a):\n    os._exit(0)", expect: "crashed", message: /exited with code 0/ },
    { name: "sys.exit through getattr", program: "import sys\ndef f(a):\n    getattr(sys, 'ex' + 'it')(0)", expect: "exception", message: /SystemExit: 0/ },
    { name: "signal handlers that ignore the alarm", program: "import signal\ndef f(a):\n    for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):\n        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass", expect: "timeout" },
    { name: "while True swallowing BaseException", program: "def f(a):\n    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass", expect: "timeout" },
    { name: "stdin read", program: "def f(a):\n    return input()", expect: "exception", message: /EOFError/ },
    { name: "patch builtins", program: "import builtins\ndef f(a):\n    builtins.len = lambda x: 42\n    builtins.sorted = lambda x: 'pwned'\n    return len([1])", expect: "valid", output: "42" },
    { name: "patch a stdlib module", program: "import math, collections\ndef f(a):\n    math.sqrt = lambda x: -1.0\n    collections.Counter.__getitem__ = lambda s, k: 99\n    return math.sqrt(4)", expect: "valid", output: "-1.0" },
    { name: "import os through __import__ and call system", program: "def f(a):\n    return __import__('o' + 's').system('id')", expect: "exception", message: /os\.system denied/ },
    { name: "importlib with a computed name", program: "import importlib\ndef f(a):\n    return importlib.import_module('sub' + 'process').run(['id']).returncode", expect: "exception", message: /denied/ },
    { name: "sys.modules walk", program: "import sys\ndef f(a):\n    return sys.modules['os'].popen('id').read()", expect: "exception", message: /denied/ },
    { name: "__subclasses__ walk to os.system", program: "def f(a):\n    c = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n    return c.__init__.__globals__['system']('id')", expect: "exception", message: /os\.system denied/ },
    { name: "daemon thread that outlives its task", program: "import _thread\ndef f(a):\n    def spin():\n        while True:\n            pass\n    _thread.start_new_thread(spin, ())\n    return 1", expect: "exception", message: /can't start new thread/ },
    { name: "fake result frames to every descriptor", program: `import os\ndef f(a):\n    for fd in range(256):\n        try:\n            os.write(fd, ${fake})\n        except OSError:\n            pass\n    return 'real'`, expect: "valid", output: "'real'" },
    { name: "fake result frames, then exit", program: `import os\ndef f(a):\n    for fd in range(256):\n        try:\n            os.write(fd, ${fake})\n        except OSError:\n            pass\n    os._exit(0)`, expect: "crashed" },
    { name: "re-open the result channel through /proc", program: "def f(a):\n    for fd in range(3, 12):\n        open('/proc/self/fd/%d' % fd, 'wb').write(b'x')\n    return 1", expect: "exception", message: /denied/ },
    { name: "frame walk to the worker's locals", program: "import sys\ndef f(a):\n    return str(sys._getframe(1).f_locals)[:20]", expect: "exception", message: /frame access denied/ },
    { name: "traceback frame walk", program: "def f(a):\n    try:\n        1 / 0\n    except Exception as e:\n        return str(e.__traceback__.tb_frame.f_back.f_locals)[:20]", expect: "exception", message: /tb_frame denied/ },
    { name: "gc walk", program: "import gc\ndef f(a):\n    return len(gc.get_objects())", expect: "exception", message: /gc\.get_objects denied/ },
    { name: "kill the parent", program: "import os\ndef f(a):\n    os.kill(os.getppid(), 9)\n    return 1", expect: "exception", message: /os\.kill denied/ },
    { name: "chdir and setrecursionlimit", program: "import sys\ndef f(a):\n    sys.setrecursionlimit(60)\n    return 1", expect: "valid", output: "1" },
    { name: "patch the worker's own module", program: "import __main__\ndef f(a):\n    __main__.literal_kind = lambda v, d: None\n    return object()", expect: "output not a literal" },
    { name: "set an environment variable", program: "def f(a):\n    __import__('os').environ['LD_PRELOAD'] = '/x.so'\n    return 1", expect: "valid", output: "1" },
    { name: "sleep forever", program: "def f(a):\n    __import__('ti' + 'me').sleep(3600)", expect: "timeout" },
    { name: "ctypes class found by a __subclasses__ walk", program: "def f(a):\n    def walk(c):\n        yield c\n        for s in type.__subclasses__(c):\n            yield from walk(s)\n    c = [k for k in walk(object) if k.__name__ == 'c_ulong'][0]\n    return c.from_address(8).value", expect: "exception", message: /denied/ },
    { name: "close the captured stdout, fill stdin", program: "import sys\ndef f(a):\n    sys.stdin.write('injected')\n    sys.stdout.close()\n    return 1", expect: "valid", output: "1" },
    { name: "replace sys.stdout with an object whose __eq__ lies", program: "import sys\nclass E:\n    def __eq__(s, o):\n        return True\n    def write(s, x):\n        pass\ndef f(a):\n    sys.stdout = E()\n    print('x')\n    return 1", expect: "valid", output: "1" },
    // Finalizers run when the worker clears the task's namespace, after the task returned.
    { name: "__del__ that loops when the namespace is cleared", program: "class L:\n    def __del__(self):\n        while True:\n            pass\nkeep = L()\ndef f(a):\n    return 1", expect: "timeout" },
    { name: "__del__ that patches builtins after the task", program: "class L:\n    def __del__(self):\n        import builtins\n        builtins.sorted = lambda x: 'pwned'\ndef f(a):\n    global keep\n    keep = L()\n    return 1", expect: "valid", output: "1" },
    { name: "leave globals for the next task", program: "import builtins\nx = 1\ndef f(a):\n    builtins.leak = 1\n    return 1", expect: "valid", output: "1" },
  ];
}

async function runSuite(mode: "pooled" | "strict"): Promise<void> {
  for (const p of HOST_FILES) rmSync(p, { force: true });
  const ex = await CodeExecutor.start({ mode, workers: 1, limits: { timeoutMs: TIMEOUT_MS, memoryMB: 512 } });
  const port = Number(new URL(nats.url).port);
  const cs = cases(port);
  assert.ok(cs.length >= 30, `${cs.length} hostile programs`);
  const batch: ProposalCheck[] = cs.flatMap((c) => [
    { type: "deduction" as const, program: c.program, input: c.input ?? "1" },
    { type: "deduction" as const, program: CANARY, input: "[3, 1, 2]" },
  ]);
  try {
    const vs = await validateAll(ex, batch);
    for (const [i, c] of cs.entries()) {
      const v = vs[2 * i];
      assert.equal(v.reason, c.expect, `${mode} / ${c.name}: got ${v.reason}: ${v.message}`);
      if (c.output !== undefined) assert.equal(v.outputs?.[0], c.output, `${mode} / ${c.name}`);
      if (c.message) assert.match(v.message, c.message, `${mode} / ${c.name}`);
      assert.ok(!v.message.includes(SECRET) && !(v.outputs ?? []).some((o) => o.includes(SECRET)), `${mode} / ${c.name} saw the host's environment`);
      const canary = vs[2 * i + 1];
      assert.equal(canary.reason, "valid", `${mode} / canary after ${c.name}: ${canary.message}`);
      assert.equal(canary.outputs?.[0], CANARY_OUT, `${mode} / canary after ${c.name}`);
    }
    // Answers that are not literals never reach Python.
    const task = { type: "deduction" as const, program: "def f(a):\n    return a", input: "1", output: "1" };
    const answers = ["0) or (True", "f(1)", "type('A', (), {'__eq__': lambda s, o: True})()", "__import__('os').system('id')"];
    const av = await checkAll(ex, answers.map((answer) => ({ task, answer })));
    assert.deepEqual(av.map((v) => v.reason), answers.map(() => "answer not a literal"));
    // The pool still serves ordinary work correctly.
    const after = await validateAll(ex, [{ type: "deduction", program: "def f(a):\n    return a[::-1]", input: "'abc'" }]);
    assert.deepEqual(after[0].outputs, ["'cba'"]);
  } finally {
    const uids = ex.stats().workerUids;
    await ex.close();
    for (const p of HOST_FILES) assert.ok(!existsSync(p), `${mode}: ${p} was created on the host`);
    if (uids.some((u) => u !== 0)) {
      let stray: string[] = [];
      for (let i = 0; i < 50; i++) {
        const ps = execFileSync("ps", ["-e", "-o", "uid=,pid=,comm="], { encoding: "utf8" }).split("\n");
        stray = ps.filter((l) => uids.includes(Number(l.trim().split(/\s+/)[0])));
        if (stray.length === 0) break;
        await new Promise((r) => setTimeout(r, 50)); // die-with-parent is asynchronous
      }
      assert.deepEqual(stray, [], `${mode}: stray processes`);
    }
  }
}

test("hostile - pooled mode: every hostile program gets its verdict, the next task is clean", async () => {
  await runSuite("pooled");
});

test("hostile - strict mode: the same verdicts", async () => {
  await runSuite("strict");
});
