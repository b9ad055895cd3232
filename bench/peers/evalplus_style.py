"""EvalPlus-style code scoring, re-created for bench/eval.bench.ts (our own code, its method).

How EvalPlus scores a sample, and what this peer does the same way:
  - expected outputs come from running the canonical solution in the parent process (EvalPlus
    caches them on disk; so do we, in a pickle beside the job file, untimed);
  - a pool of n worker processes; for every problem a worker starts ONE NEW PROCESS
    (multiprocessing.Process, fork on Linux) that execs the program, calls the entry function on
    a deep copy of each base then plus input under a per-test time limit (setitimer), compares
    with == (floats: |out - exp| <= atol + 1e-7 |exp|), stops at the first failure, and reports
    through shared memory; the worker joins it with an overall timeout and kills it past that.
Not re-created: EvalPlus's reliability_guard (it disables os functions in the child; no sandbox).

Usage: python3 evalplus_style.py <jobs.json> <workers>   → prints {"passed", "total", "seconds"}
"""
import copy
import json
import math
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def as_tuples(v):
    return tuple(as_tuples(x) for x in v) if isinstance(v, list) else v


def convert(value, mode):
    if mode == "deep":
        return as_tuples(value)
    if mode == "self" and isinstance(value, list):
        return tuple(value)
    if mode == "items" and isinstance(value, (list, tuple)):
        return type(value)(tuple(v) if isinstance(v, list) else v for v in value)
    if mode == "values" and isinstance(value, dict):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    if mode == "number" and isinstance(value, str):
        for kind in (int, float, complex):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def inputs_of(p):
    raw = json.loads(p["base"]) + json.loads(p["plus"])
    out = []
    for args in raw:
        args = list(args)
        for k, mode in p["tupleArgs"]:
            if k < len(args):
                args[k] = convert(args[k], mode)
        out.append(args)
    return out


def outputs_of(p, inputs):
    """Expected outputs and each call's time (the per-test limit is max(10 s, 8 x that))."""
    ns = {}
    exec(p["program"], ns)
    fn = ns[p["entry"]]
    outs, times = [], []
    for a in inputs:
        t0 = time.perf_counter()
        o = fn(*copy.deepcopy(a))
        times.append(time.perf_counter() - t0)
        outs.append((o is not None) if p.get("oracle") == "not-none" else o)
    return outs, times


def is_floats(x):
    return isinstance(x, float) or (isinstance(x, (list, tuple)) and bool(x) and all(isinstance(v, float) for v in x))


def matches(out, exp, args, p):
    atol = p.get("atol") or 0
    if p.get("oracle") == "poly-root":
        return abs(sum(c * out ** i for i, c in enumerate(args[0]))) <= (atol or 1e-6)
    if out == exp:
        return True
    if is_floats(exp):
        e = [exp] if isinstance(exp, float) else list(exp)
        o = [out] if isinstance(out, float) else list(out) if isinstance(out, (list, tuple)) else None
        if o is None or len(o) != len(e):
            return False
        tol = atol or 1e-6
        return all(abs(a - b) <= tol + 1e-7 * abs(b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(o, e))
    return False


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout()


def unsafe_execute(p, inputs, expected, limits, status):
    signal.signal(signal.SIGALRM, _alarm)
    try:
        ns = {}
        exec(p["program"], ns)
        fn = ns[p["entry"]]
        for i, args in enumerate(inputs):
            signal.setitimer(signal.ITIMER_REAL, limits[i])
            try:
                out = fn(*copy.deepcopy(args))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if p.get("oracle") == "not-none":
                out = out is not None
            if not matches(out, expected[i], args, p):
                status.value = 2
                return
        status.value = 1
    except BaseException:  # noqa: BLE001 - any failure fails the sample
        status.value = 3


STATE = {}


def check(index):
    p, inputs, expected, limits = STATE["problems"][index]
    status = mp.Value("i", 0)
    proc = mp.Process(target=unsafe_execute, args=(p, inputs, expected, limits, status))
    proc.start()
    proc.join(timeout=sum(limits) + 1)
    if proc.is_alive():
        proc.kill()
        proc.join()
    return status.value == 1


def main():
    jobs_path, workers = sys.argv[1], int(sys.argv[2])
    problems = json.load(open(jobs_path))
    cache = jobs_path + ".expected.pickle"
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            truth = pickle.load(f)
    else:
        truth = {}
        for p in problems:
            truth[p["id"]] = outputs_of(p, inputs_of(p))
        with open(cache, "wb") as f:
            pickle.dump(truth, f)
    prepared = []
    for p in problems:
        inputs = inputs_of(p)
        expected, times = truth[p["id"]]
        prepared.append((p, inputs, expected, [max(10.0, 8 * t) for t in times]))
    STATE["problems"] = prepared  # inherited by the forked pool workers, as EvalPlus's globals are
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
        results = list(ex.map(check, range(len(prepared))))
    seconds = time.perf_counter() - t0
    print(json.dumps({"passed": sum(results), "total": len(results), "seconds": seconds}))


if __name__ == "__main__":
    main()
