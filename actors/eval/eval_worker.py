"""Benchmark scoring worker for `azr eval`, run inside the executor's bubblewrap sandbox.

Covers three kinds of job, one at a time, read as JSON lines on stdin, answered as JSON lines on
stdout:
  - "code": run a program's entry function on a list of inputs (EvalPlus semantics: a fresh
    deep copy of the arguments per call, stop at the first failure), each call under its own
    wall-clock limit; with `expected` the outputs are compared here, else they are returned
    (marshal bytes, base64) with their times, which is how reference outputs are made;
  - "lcb": LiveCodeBench generation tests (stdin programs or Solution methods), 60 s each;
  - "math": is sympy expression A equal to B (symbolically or numerically), under a limit.
Not: answer extraction, LaTeX reading, normalisation (TypeScript, actors/eval/math-*.ts), the
sandbox itself (actors/code-executor/sandbox.ts starts us), the job deadline (Node kills the
whole worker when a job overruns).

Why the shape: untrusted code never runs in this process. Before each job we already hold a
*spare* child, forked while no job data was in memory; the job's program and inputs are sent
to it through a pipe, and it sends back one marshal record per call. So the child cannot read
the expected outputs (they never existed in its memory), cannot write our stdout (closed in the
child; this process is non-dumpable, so /proc/<pid>/fd is closed to it), and whatever it does
to itself ends with it. Values cross as marshal data: marshal refuses every non-builtin type
(subclasses included), so no object with its own __eq__ ever reaches the comparison.
"""
import base64
import copy
import ctypes
import hashlib
import json
import marshal
import math
import os
import resource
import select
import signal
import struct
import sys
import time

MEMORY_BYTES = 4 << 30
# Outputs whose marshal form is bigger than this cross as a SHA-256 of it (one MBPP+ test
# returns 1.6 M tuples); equal values from different code could in principle marshal
# differently (string interning flags), which would fail a right answer on such a test only.
BIG_OUTPUT_BYTES = 4 << 20

# --- spare children --------------------------------------------------------------------------


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _send(fd, obj):
    data = marshal.dumps(obj)
    _write_all(fd, struct.pack("<I", len(data)) + data)


def _read_exact(fd, n):
    chunks = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _recv(fd):
    (n,) = struct.unpack("<I", _read_exact(fd, 4))
    return marshal.loads(_read_exact(fd, n))


def _limit_child():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ValueError, OSError):
        pass
    # No new processes or threads: this uid already has us and our parent.
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    except (ValueError, OSError):
        pass


_BUILTIN_BASES = (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)


def _plain(value, depth=0):
    """The output as builtin values only: numpy values via tolist(), subclasses of builtins
    (Counter, OrderedDict, namedtuple, IntEnum) as their builtin base, as == in EvalPlus would
    see them. Runs in the child, so nothing here is trusted."""
    t = type(value)
    if depth > 100 or value is None or t in _BUILTIN_BASES:
        if t in (list, tuple, set, frozenset, dict) and depth <= 100:
            pass  # containers may still hold non-builtins
        else:
            return value
    if t.__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    for base in _BUILTIN_BASES:
        if isinstance(value, base):
            if base in (list, tuple, set, frozenset):
                return base(_plain(v, depth + 1) for v in value)
            if base is dict:
                return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
            return base(value)
    return value


def _child_code(job, out_fd):
    ns = {}
    try:
        exec(compile(job["program"], "<program>", "exec"), ns)
    except BaseException as e:  # noqa: BLE001 - any failure of the program is its verdict
        _send(out_fd, ("load", -1, 0.0, "%s: %s" % (type(e).__name__, str(e)[:300])))
        return
    fn = ns.get(job["entry"])
    if not callable(fn):
        _send(out_fd, ("load", -1, 0.0, "no function named %r" % job["entry"]))
        return
    for i, args in enumerate(job["inputs"]):
        args = copy.deepcopy(args)
        t0 = time.perf_counter()
        try:
            out = fn(*args)
        except BaseException as e:  # noqa: BLE001
            _send(out_fd, ("raise", i, time.perf_counter() - t0, "%s: %s" % (type(e).__name__, str(e)[:300])))
            return
        dt = time.perf_counter() - t0
        if job.get("oracle") == "not-none":
            out = out is not None
        try:
            try:
                data = marshal.dumps(out, 2)  # C speed when it is all builtins already
            except ValueError:
                data = marshal.dumps(_plain(out), 2)
        except BaseException as e:  # noqa: BLE001
            _send(out_fd, ("type", i, dt, "output of type %s is not a builtin value" % type(out).__name__))
            return
        if len(data) > BIG_OUTPUT_BYTES:
            data = marshal.dumps(("sha256", hashlib.sha256(data).hexdigest()))
        _write_all(out_fd, struct.pack("<I", len(data) + 1) + b"V" + data)


def _child_lcb(job, out_fd):
    """LiveCodeBench generation: stdin tests run the whole program per test with the test's
    input as stdin and its stdout captured; functional tests call Solution().<name>(*args)
    with one JSON value per input line."""
    import io
    code = compile(job["program"], "<program>", "exec")
    for i, t in enumerate(job["tests"]):
        t0 = time.perf_counter()
        try:
            if t["testtype"] == "functional":
                ns = {"__name__": "__lcb__"}
                exec(code, ns)
                method = getattr(ns["Solution"](), job["funcName"])
                out = method(*[json.loads(line) for line in t["input"].split("\n") if line.strip()])
                out = json.loads(json.dumps(out))  # tuples as lists, as the expected JSON has them
            else:
                sys.stdin = io.StringIO(t["input"])
                sys.stdout = captured = io.StringIO()
                try:
                    exec(code, {"__name__": "__main__"})
                except SystemExit:
                    pass
                finally:
                    sys.stdout = sys.__stdout__
                out = captured.getvalue()
        except BaseException as e:  # noqa: BLE001
            _send(out_fd, ("raise", i, time.perf_counter() - t0, "%s: %s" % (type(e).__name__, str(e)[:300])))
            return
        try:
            data = marshal.dumps(out, 2)
        except BaseException:  # noqa: BLE001
            _send(out_fd, ("type", i, 0.0, "output of type %s is not a builtin value" % type(out).__name__))
            return
        _write_all(out_fd, struct.pack("<I", len(data) + 1) + b"V" + data)


def _stdout_matches(out, expected):
    """Line by line with surrounding spaces ignored; tokens that are both numbers may differ by 1e-6."""
    a = [l.strip() for l in str(out).strip().splitlines()]
    b = [l.strip() for l in str(expected).strip().splitlines()]
    if a == b:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        tx, ty = x.split(), y.split()
        if len(tx) != len(ty):
            return False
        for u, v in zip(tx, ty):
            if u == v:
                continue
            try:
                if abs(float(u) - float(v)) > 1e-6:
                    return False
            except ValueError:
                return False
    return True


def run_lcb(spare, job):
    tests = job["tests"]
    spare.start({"kind": "lcb", "program": job["program"], "tests": tests, "funcName": job.get("funcName")})
    i = 0
    while i < len(tests):
        rec = spare.next_record(time.monotonic() + job.get("limitMs", 60000) / 1000.0)
        if rec == "timeout":
            return {"pass": False, "test": i, "why": "timeout", "detail": "test %d ran past %d ms" % (i, job.get("limitMs", 60000))}
        if rec is None:
            return {"pass": False, "test": i, "why": "crashed", "detail": "the program's process ended during test %d" % i}
        if rec[:1] != b"V":
            kind, at, _dt, msg = marshal.loads(rec)
            return {"pass": False, "test": at, "why": kind, "detail": str(msg)}
        out = marshal.loads(rec[1:])
        t = tests[i]
        if t["testtype"] == "functional":
            try:
                ok = out == json.loads(t["output"])
            except ValueError:
                ok = False
        else:
            ok = _stdout_matches(out, t["output"])
        if not ok:
            return {"pass": False, "test": i, "why": "wrong", "detail": "test %d: got %s" % (i, repr(out)[:200])}
        i += 1
    return {"pass": True}


def _child_math(job, out_fd):
    import re
    from sympy import N, Symbol, simplify
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations, implicit_multiplication_application, convert_xor
    tr = standard_transformations + (implicit_multiplication_application, convert_xor)
    # Every name that is not a known function or constant is a plain symbol (not sympy's N, S, Q…).
    known = {"sqrt", "pi", "oo", "E", "I", "log", "exp", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "binomial", "Abs"}
    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", job["a"] + " " + job["b"])) - known
    local = {n: Symbol(n) for n in names}
    try:
        a = parse_expr(job["a"], local_dict=dict(local), transformations=tr, evaluate=True)
        b = parse_expr(job["b"], local_dict=dict(local), transformations=tr, evaluate=True)
    except BaseException as e:  # noqa: BLE001
        _send(out_fd, ("parse", 0, 0.0, "%s: %s" % (type(e).__name__, str(e)[:200])))
        return
    verdict = "different"
    try:
        na, nb = complex(N(a, 30)), complex(N(b, 30))
        if abs(na - nb) <= 1e-6 * max(1.0, abs(nb)):
            verdict = "equal"
    except BaseException:  # noqa: BLE001 - not numeric: try symbolic
        try:
            if simplify(a - b) == 0:
                verdict = "equal"
        except BaseException:  # noqa: BLE001
            pass
    _send(out_fd, ("math", 0, 0.0, verdict))


def _child_main(in_fd, out_fd):
    """The spare: wait for one job, run it, exit. Never returns."""
    try:
        os.setsid()
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    for fd in range(3, 1024):
        if fd not in (in_fd, out_fd):
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        job = _recv(in_fd)
        os.close(in_fd)
        _limit_child()
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        if job["kind"] == "code":
            _child_code(job, out_fd)
        elif job["kind"] == "lcb":
            _child_lcb(job, out_fd)
        else:
            _child_math(job, out_fd)
    except BaseException:  # noqa: BLE001
        pass
    os._exit(0)


class Spare:
    def __init__(self):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.to_child)
            os.close(self.from_child)
            _child_main(to_child_r, from_child_w)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = bytearray()
        self.pos = 0

    def start(self, payload):
        try:
            _send(self.to_child, payload)
        except OSError:
            pass  # the spare is gone already: its EOF is the verdict
        os.close(self.to_child)

    def next_record(self, deadline):
        """One record from the child, "timeout" past the deadline, or None at EOF."""
        while True:
            have = len(self.buf) - self.pos
            if have >= 4:
                (n,) = struct.unpack_from("<I", self.buf, self.pos)
                if have >= 4 + n:
                    rec = bytes(self.buf[self.pos + 4 : self.pos + 4 + n])
                    self.pos += 4 + n
                    if self.pos > (1 << 20):
                        del self.buf[: self.pos]
                        self.pos = 0
                    return rec
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            r, _, _ = select.select([self.from_child], [], [], left)
            if not r:
                return "timeout"
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk
            if len(self.buf) > BIG_OUTPUT_BYTES + (1 << 20):
                return None  # a flood: treated like a crash

    def finish(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.from_child)


# --- comparison (trusted: only builtin values from marshal) -----------------------------------


def _is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(v, float) for v in x)
    return False


def _close(out, exp, atol):
    """Element-wise |out - exp| <= atol + 1e-7 * |exp| for a float or a flat sequence of floats."""
    if isinstance(exp, float):
        exp, out = [exp], [out]
    if not isinstance(out, (list, tuple)) or len(out) != len(exp):
        return False
    for o, e in zip(out, exp):
        if isinstance(o, bool) or not isinstance(o, (int, float)):
            return False
        if math.isnan(e) or math.isnan(o):
            if not (math.isnan(e) and math.isnan(o)):
                return False
            continue
        if abs(o - e) > atol + 1e-7 * abs(e):
            return False
    return True


def _poly(xs, x):
    return sum(c * x ** i for i, c in enumerate(xs))


def _matches(out, exp, args, atol, oracle):
    if oracle == "poly-root":
        # Any root is right (HumanEval/32 find_zero): the value at it must be ~0.
        return isinstance(out, (int, float)) and not isinstance(out, bool) and abs(_poly(args[0], out)) <= (atol or 1e-6)
    if out == exp:  # Python's == on builtin values, as EvalPlus compares
        return True
    if _is_floats(exp):
        return _close(out, exp, atol if atol else 1e-6)
    return False


# --- jobs ------------------------------------------------------------------------------------


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def _convert(value, mode):
    """One argument made into the container types its contract asks for (see code-bench.ts)."""
    if mode == "deep":
        return _as_tuples(value)
    if mode == "self" and isinstance(value, list):
        return tuple(value)
    if mode == "items" and isinstance(value, (list, tuple)):
        return type(value)(tuple(v) if isinstance(v, list) else v for v in value)
    if mode == "number" and isinstance(value, str):
        for kind in (int, float, complex):
            try:
                return kind(value)
            except ValueError:
                pass
        return value
    if mode == "values" and isinstance(value, dict):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


def job_inputs(job):
    """JSON has no tuples: tupleArgs lists [argument index, mode] pairs, applied in order."""
    raw = []
    for text in job["inputsJson"]:
        raw.extend(json.loads(text))
    plan = job.get("tupleArgs") or []
    if not plan:
        return raw
    out = []
    for args in raw:
        args = list(args)
        for k, mode in plan:
            if k < len(args):
                args[k] = _convert(args[k], mode)
        out.append(args)
    return out


def run_code(spare, job):
    inputs = job_inputs(job)
    limits = job["limitsMs"]
    expected = None
    if job.get("expected") is not None:
        expected = marshal.loads(base64.b64decode(job["expected"]))
    spare.start({"kind": "code", "program": job["program"], "entry": job["entry"], "inputs": inputs, "oracle": job.get("oracle")})
    outputs = []
    i = 0
    while True:
        limit = limits[i] if i < len(limits) else limits[-1]
        rec = spare.next_record(time.monotonic() + limit / 1000.0)
        if rec == "timeout":
            return {"pass": False, "test": i, "why": "timeout", "detail": "test %d ran past %d ms" % (i, limit)}
        if rec is None:
            if i == len(inputs) and (expected is not None or len(outputs) == len(inputs)):
                break
            return {"pass": False, "test": i, "why": "crashed", "detail": "the program's process ended during test %d" % i}
        if rec[:1] == b"V":
            try:
                out = marshal.loads(rec[1:])
            except (ValueError, EOFError, TypeError):
                return {"pass": False, "test": i, "why": "type", "detail": "unreadable output"}
            if expected is None:
                outputs.append(out)
            elif not _matches(out, expected[i], inputs[i], job.get("atol", 0), job.get("oracle")):
                return {"pass": False, "test": i, "why": "wrong", "detail": "test %d: got %s" % (i, repr(out)[:200])}
            i += 1
            if i == len(inputs):
                break
            continue
        try:
            kind, at, _dt, msg = marshal.loads(rec)
        except (ValueError, EOFError, TypeError):
            return {"pass": False, "test": i, "why": "crashed", "detail": "unreadable record"}
        return {"pass": False, "test": at, "why": kind, "detail": str(msg)}
    if expected is None:
        return {"pass": True, "outputs": base64.b64encode(marshal.dumps(outputs)).decode("ascii")}
    return {"pass": True}


def run_code_timed(spare, job):
    """Reference run: outputs plus each call's time (from one record's arrival to the next)."""
    inputs = job_inputs(job)
    spare.start({"kind": "code", "program": job["program"], "entry": job["entry"], "inputs": inputs, "oracle": job.get("oracle")})
    outputs, times = [], []
    last = time.monotonic()
    for i in range(len(inputs)):
        rec = spare.next_record(last + job["limitsMs"][0] / 1000.0)
        now = time.monotonic()
        if rec == "timeout" or rec is None:
            return {"pass": False, "test": i, "why": "timeout" if rec else "crashed", "detail": "reference run failed at test %d" % i}
        if rec[:1] != b"V":
            kind, at, _dt, msg = marshal.loads(rec)
            return {"pass": False, "test": at, "why": kind, "detail": str(msg)}
        outputs.append(marshal.loads(rec[1:]))
        times.append((now - last) * 1000.0)
        last = now
    return {"pass": True, "outputs": base64.b64encode(marshal.dumps(outputs)).decode("ascii"), "timesMs": times}


def run_math(spare, job):
    spare.start({"kind": "math", "a": job["a"], "b": job["b"]})
    rec = spare.next_record(time.monotonic() + job.get("limitMs", 3000) / 1000.0)
    if rec == "timeout":
        return {"equal": False, "why": "timeout"}
    if rec is None:
        return {"equal": False, "why": "crashed"}
    kind, _i, _dt, msg = marshal.loads(rec)
    if kind == "parse":
        return {"equal": False, "why": "parse", "detail": msg}
    return {"equal": msg == "equal", "why": msg}


def _no_dumping():
    """Make /proc/<our pid> unreadable and un-ptrace-able to our children (same uid)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except OSError:
        pass


def main():
    _no_dumping()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if os.environ.get("AZR_EVAL_MATH") == "1":
        import sympy  # noqa: F401 - imported once here so each forked child has it
        from sympy.parsing import sympy_parser  # noqa: F401
    out = sys.stdout
    out.write(json.dumps({"t": "ready", "pid": os.getpid()}) + "\n")
    out.flush()
    spare = Spare()
    for line in sys.stdin:
        job = json.loads(line)
        try:
            if job["kind"] == "code":
                result = run_code_timed(spare, job) if job.get("reference") else run_code(spare, job)
            elif job["kind"] == "math":
                result = run_math(spare, job)
            elif job["kind"] == "lcb":
                result = run_lcb(spare, job)
            else:
                result = {"error": "unknown job kind %r" % job.get("kind")}
        finally:
            spare.finish()
            spare = Spare()
        result["id"] = job["id"]
        out.write(json.dumps(result) + "\n")
        out.flush()
    spare.finish()


if __name__ == "__main__":
    main()
