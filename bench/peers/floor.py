#!/usr/bin/env python3
"""The unsandboxed in-process floor for bench/executor.bench.ts: compile + exec the program,
two calls of f on freshly evaluated arguments, repr — no isolation, no checks, on N processes
(one per core). Anything an executor does beyond this costs time; the bench reports ours as a
fraction of this.

Usage: python3 bench/peers/floor.py PAIRS.jsonl --procs 2 [--timeout 10]
       python3 bench/peers/floor.py --fork-cost   (ms to fork and reap a warm interpreter)
"""
import json
import os
import signal
import sys
import time
import warnings


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def run_slice(pairs, timeout):
    warnings.filterwarnings("ignore")  # SyntaxWarnings of seed programs are not results
    signal.signal(signal.SIGALRM, _alarm)
    for p in pairs:
        signal.alarm(timeout)
        try:
            env = {}
            exec(compile(p["program"], "<program>", "exec"), env)
            call = compile("f(%s)" % p["input"], "<input>", "eval")
            repr(eval(call, env))
            repr(eval(call, env))
        except BaseException:
            pass
        finally:
            signal.alarm(0)


def fork_cost(n=200):
    import ast, collections, decimal, fractions, heapq, itertools, math, re, typing  # a warm interpreter
    t = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - t) / n * 1000.0


def main():
    if "--fork-cost" in sys.argv:
        print(json.dumps({"fork_ms": fork_cost()}))
        return
    path = sys.argv[1]
    procs = int(sys.argv[sys.argv.index("--procs") + 1]) if "--procs" in sys.argv else os.cpu_count()
    timeout = int(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 10
    pairs = [json.loads(line) for line in open(path) if line.strip()]
    t0 = time.perf_counter()
    pids = []
    for k in range(procs):
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)  # programs that print must not pollute our JSON
            run_slice(pairs[k::procs], timeout)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    dt = time.perf_counter() - t0
    print(json.dumps({"tasks": len(pairs), "seconds": dt, "tasks_per_s": len(pairs) / dt, "procs": procs}))


if __name__ == "__main__":
    main()
