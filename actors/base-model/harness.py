"""Runs the corpus generator's own programs on literal inputs and returns repr text.

A minimal, NOT sandboxed executor for trusted, project-generated programs (the corpus
generator's output): one long-lived process reads JSON lines on stdin and answers one JSON line
per request on stdout. It applies self-play's validity rules (azr-spec section 5.3, checks 1 and
3-7) so the corpus holds only pairs self-play would also accept: the input parses as a literal
argument list, `f` exists, the call returns without raising within the time limit, two calls on
freshly parsed arguments give equal values with identical reprs, the value is built only from
exact builtin types, its repr parses back equal, and the repr is at most `maxOutputChars` long.

Covers: those checks. Not: the sandbox (bubblewrap, audit hooks, rlimits) or banned-word
checks: model-written code goes through actors/code-executor, never through this file.

Request:  {"program": str, "inputs": [str, ...], "timeoutS": float, "maxOutputChars": int}
Response: {"results": [{"ok": true, "output": str} | {"ok": false, "reason": str, "detail": str}]}
          or {"error": str} when the request itself is malformed.
"""
import ast
import json
import signal
import sys

EXACT_TYPES = (int, float, str, bytes, bool, type(None))


class Timeout(BaseException):
    """Raised by the alarm; a BaseException so `except Exception` in a program cannot swallow it."""


def on_alarm(signum, frame):
    raise Timeout()


def parse_args(text):
    """`'a', [1, 2]` -> (args, kwargs), literals only (never evaluated)."""
    call = ast.parse(f"f({text})", mode="eval").body
    if not isinstance(call, ast.Call):
        raise ValueError("not an argument list")
    for a in call.args:
        if isinstance(a, ast.Starred):
            raise ValueError("starred argument")
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {}
    for k in call.keywords:
        if k.arg is None:
            raise ValueError("** argument")
        kwargs[k.arg] = ast.literal_eval(k.value)
    return args, kwargs


def is_literal_value(v, depth=0):
    """Built only from the exact builtin types of section 5.2 (subclasses rejected)."""
    if depth > 100:
        return False
    t = type(v)
    if t in EXACT_TYPES:
        return True
    if t in (list, tuple, set):
        return all(is_literal_value(x, depth + 1) for x in v)
    if t is dict:
        return all(is_literal_value(k, depth + 1) and is_literal_value(x, depth + 1) for k, x in v.items())
    return False


def run_program(program, inputs, timeout_s, max_chars):
    namespace = {"__name__": "__azr_corpus__"}
    try:
        code = compile(program, "<program>", "exec")
    except SyntaxError as e:
        return [{"ok": False, "reason": "syntax", "detail": str(e)} for _ in inputs]
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        exec(code, namespace)
    except Timeout:
        return [{"ok": False, "reason": "timeout", "detail": "module level"} for _ in inputs]
    except Exception as e:
        return [{"ok": False, "reason": "module error", "detail": f"{type(e).__name__}: {e}"} for _ in inputs]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    f = namespace.get("f")
    if not callable(f):
        return [{"ok": False, "reason": "no f", "detail": "no callable f"} for _ in inputs]
    return [run_one(f, text, timeout_s, max_chars) for text in inputs]


def run_one(f, text, timeout_s, max_chars):
    try:
        args1, kw1 = parse_args(text)
        args2, kw2 = parse_args(text)
    except (SyntaxError, ValueError) as e:
        return {"ok": False, "reason": "input not a literal", "detail": str(e)}
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        first = f(*args1, **kw1)
        second = f(*args2, **kw2)
    except Timeout:
        return {"ok": False, "reason": "timeout", "detail": f"over {timeout_s} s"}
    except RecursionError as e:
        return {"ok": False, "reason": "error", "detail": f"RecursionError: {e}"}
    except Exception as e:
        return {"ok": False, "reason": "error", "detail": f"{type(e).__name__}: {e}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if not is_literal_value(first):
        return {"ok": False, "reason": "output not a literal", "detail": type(first).__name__}
    r1, r2 = repr(first), repr(second)
    if r1 != r2:  # equal reprs of exact builtin values: equal values, NaN included
        return {"ok": False, "reason": "non-deterministic", "detail": f"{r1[:80]} vs {r2[:80]}"}
    if len(r1) > max_chars:
        return {"ok": False, "reason": "output too long", "detail": f"{len(r1)} chars"}
    try:
        back = ast.literal_eval(r1)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {"ok": False, "reason": "output not a literal", "detail": r1[:80]}
    if repr(back) != r1:
        return {"ok": False, "reason": "output not a literal", "detail": "repr does not round-trip"}
    return {"ok": True, "output": r1}


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    sys.setrecursionlimit(2000)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            results = run_program(req["program"], req["inputs"], float(req.get("timeoutS", 2.0)), int(req.get("maxOutputChars", 400)))
            out = {"results": results}
        except Exception as e:  # a malformed request: answer, never die
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
