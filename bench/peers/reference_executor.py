#!/usr/bin/env python3
"""Re-creation of Absolute Zero's reference executor, as its users run it (the peer of
bench/executor.bench.ts).

What it re-creates (from the reference's described behaviour, not its code): one persistent
`pebble.ProcessPool` worker; each program is submitted as one call that `exec`s the program and
the call `f(<input>)` in-process under a SIGALRM timeout; determinism is two such calls whose
reprs must match. No sandbox, no literal checks, no ban list: exactly the unsafe baseline the
issue measures against (758 tasks/s on its machine).

Usage: python3 bench/peers/reference_executor.py PAIRS.jsonl [--timeout 10] > result.json
PAIRS.jsonl holds {"program", "input", "output"} lines; the result JSON has tasks/s, p50/p99 ms
per task and the fraction whose repr equals the recorded output text.
"""
import json
import signal
import sys
import time

from pebble import ProcessPool


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def run_once(program, call, timeout):
    """In the pebble worker: exec the program and evaluate f(<input>), as the reference does."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        env = {}
        exec(program, env)
        return repr(eval(call, env))
    except Timeout:
        return "<timeout>"
    except BaseException as e:  # the reference reports the error text
        return "<error %s: %s>" % (type(e).__name__, e)
    finally:
        signal.alarm(0)


def main():
    path = sys.argv[1]
    timeout = int(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 10
    pairs = [json.loads(line) for line in open(path) if line.strip()]
    lat = []
    reproduced = 0
    with ProcessPool(max_workers=1) as pool:
        pool.schedule(run_once, args=("def f():\n    return 0", "f()", timeout)).result()  # warm up
        t0 = time.perf_counter()
        for p in pairs:
            call = "f(%s)" % p["input"]
            s = time.perf_counter()
            outs = []
            for _ in range(2):  # determinism: two calls
                fut = pool.schedule(run_once, args=(p["program"], call, timeout), timeout=timeout + 1)
                try:
                    outs.append(fut.result())
                except Exception as e:  # pebble's own timeout / worker death
                    outs.append("<pool %s>" % type(e).__name__)
            lat.append((time.perf_counter() - s) * 1000.0)
            if outs[0] == outs[1] and outs[0] == p["output"]:
                reproduced += 1
        dt = time.perf_counter() - t0
    lat.sort()
    n = len(pairs)
    print(json.dumps({
        "tasks": n, "seconds": dt, "tasks_per_s": n / dt if dt else 0.0,
        "p50_ms": lat[n // 2] if n else 0.0, "p99_ms": lat[min(n - 1, int(n * 0.99))] if n else 0.0,
        "reproduced": reproduced / n if n else 0.0,
    }))


if __name__ == "__main__":
    main()
