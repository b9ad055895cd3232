"""The spare child of an eval worker: what runs the untrusted program, and both ends of its pipe.

The worker forks a *spare* child before it reads a job (so no job data, expected outputs
included, is ever in the child's memory), then sends it one job through a pipe. The child runs
the program under resource limits with every other descriptor closed and answers one record per
test: `V` + marshal bytes of the output, or a marshal tuple (kind, test, seconds, message) for a
failure. marshal refuses every non-builtin type, so no object with its own __eq__ reaches the
worker's comparison. Records are a 4-byte little-endian length and the record.
Covers: the fork, the child's runners (code, LiveCodeBench, sympy equality), the record reader
with deadlines. Not: comparing outputs (eval_compare.py), jobs and the worker loop (eval_worker.py).
"""
import copy
import hashlib
import json
import marshal
import os
import resource
import select
import signal
import struct
import sys
import time

from eval_sanitize import sanitize  # imported before the fork: the child opens no files

MEMORY_BYTES = 4 << 30
# Outputs whose marshal form is bigger than this cross as a SHA-256 of it (one MBPP+ test
# returns 1.6 M tuples); equal values from different code could in principle marshal
# differently (string interning flags), which would fail a right answer on such a test only.
BIG_OUTPUT_BYTES = 4 << 20


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd, obj):
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
        program = job["program"]
        if job.get("sanitize"):  # EvalPlus's sanitizer, here because the text is untrusted
            program = sanitize(program, job["entry"])
        exec(compile(program, "<program>", "exec"), ns)
    except BaseException as e:  # noqa: BLE001 - any failure of the program is its verdict
        send(out_fd, ("load", -1, 0.0, "%s: %s" % (type(e).__name__, str(e)[:300])))
        return
    fn = ns.get(job["entry"])
    if not callable(fn):
        send(out_fd, ("load", -1, 0.0, "no function named %r" % job["entry"]))
        return
    for i, args in enumerate(job["inputs"]):
        args = copy.deepcopy(args)
        t0 = time.perf_counter()
        try:
            out = fn(*args)
        except BaseException as e:  # noqa: BLE001
            send(out_fd, ("raise", i, time.perf_counter() - t0, "%s: %s" % (type(e).__name__, str(e)[:300])))
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
            send(out_fd, ("type", i, dt, "output of type %s is not a builtin value" % type(out).__name__))
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
            send(out_fd, ("raise", i, time.perf_counter() - t0, "%s: %s" % (type(e).__name__, str(e)[:300])))
            return
        try:
            data = marshal.dumps(out, 2)
        except BaseException:  # noqa: BLE001
            send(out_fd, ("type", i, 0.0, "output of type %s is not a builtin value" % type(out).__name__))
            return
        _write_all(out_fd, struct.pack("<I", len(data) + 1) + b"V" + data)


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
        send(out_fd, ("parse", 0, 0.0, "%s: %s" % (type(e).__name__, str(e)[:200])))
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
    send(out_fd, ("math", 0, 0.0, verdict))


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
            send(self.to_child, payload)
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
