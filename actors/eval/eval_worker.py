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

Modules: eval_child.py (the spare child that runs the program, and its pipe), eval_compare.py
(the comparisons), this file (jobs and the loop).

Why the shape: untrusted code never runs in this process. Before each job we already hold a
*spare* child, forked while no job data was in memory; the job's program and inputs are sent
to it through a pipe, and it sends back one marshal record per call. So the child cannot read
the expected outputs (they never existed in its memory), cannot write our stdout (closed in the
child; this process is non-dumpable, so /proc/<pid>/fd is closed to it), and whatever it does
to itself ends with it. Values cross as marshal data: marshal refuses every non-builtin type
(subclasses included), so no object with its own __eq__ ever reaches the comparison.
"""
import base64
import ctypes
import json
import marshal
import os
import signal
import sys
import time

from eval_child import Spare
from eval_compare import matches, stdout_matches

# --- jobs ------------------------------------------------------------------------------------


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
            ok = stdout_matches(out, t["output"])
        if not ok:
            return {"pass": False, "test": i, "why": "wrong", "detail": "test %d: got %s" % (i, repr(out)[:200])}
        i += 1
    return {"pass": True}


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
    spare.start({"kind": "code", "program": job["program"], "entry": job["entry"], "inputs": inputs, "oracle": job.get("oracle"),
                 "sanitize": bool(job.get("sanitize"))})
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
            elif not matches(out, expected[i], inputs[i], job.get("atol", 0), job.get("oracle")):
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
