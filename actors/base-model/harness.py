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

With "trace": {"maxLines": int, "maxChars": int} a passing run also returns "trace": the
execution of f written as lines a reader could have worked out by hand (`name = value` for each
local variable as it takes a new value, `return value` last), or null when it needs more lines or
characters than allowed. It is made by a third call under sys.settrace, after the checks passed.

Request:  {"program": str, "inputs": [str, ...], "timeoutS": float, "maxOutputChars": int, "trace"?: {...}}
Response: {"results": [{"ok": true, "output": str, "trace"?: str | null} | {"ok": false, "reason": str, "detail": str}]}
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


def for_loops(program):
    """{header line: (names bound by its target, first body line, last body line)} of every for statement."""
    loops = {}
    for node in ast.walk(ast.parse(program)):
        if isinstance(node, (ast.For, ast.AsyncFor)):
            names = tuple(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
            loops[node.lineno] = (names, node.body[0].lineno, node.body[-1].end_lineno)
    return loops


def trace_call(f, text, timeout_s, max_lines, max_chars, loops):
    """f's own frame, line by line: each local variable when its value (a literal) changes, then
    the return value. None when the trace outgrows max_lines / max_chars. Values that are not
    literals (functions, iterators) are left out: their reprs are neither readable nor stable.
    Only the outermost call of f is traced (a recursive f's inner calls are its own business).
    A for loop's variables are written on every pass, equal values too, so each pass shows."""
    args, kwargs = parse_args(text)
    code = f.__code__
    lines, shown, state = [], {}, {"depth": 0, "over": False, "chars": 0, "prev": 0}

    def note(line):
        lines.append(line)
        state["chars"] += len(line) + 1
        if len(lines) > max_lines or state["chars"] > max_chars:
            state["over"] = True

    def on_frame(frame, event, arg):
        if state["over"]:
            return None
        if event in ("line", "return"):
            # a for header that ran last and led into its body bound its targets again, equal or not
            loop = loops.get(state["prev"])
            rebound = loop[0] if loop and event == "line" and loop[1] <= frame.f_lineno <= loop[2] else ()
            state["prev"] = frame.f_lineno
            for name, value in frame.f_locals.items():
                if not is_literal_value(value):
                    continue
                r = repr(value)
                if shown.get(name) != r or name in rebound:
                    shown[name] = r
                    note(f"{name} = {r}")
            if event == "return":
                note(f"return {arg!r}")
        return on_frame

    def on_call(frame, event, arg):
        if event == "call" and frame.f_code is code and state["depth"] == 0:
            state["depth"] = 1
            return on_frame
        return None

    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    sys.settrace(on_call)
    try:
        f(*args, **kwargs)
    finally:
        sys.settrace(None)
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None if state["over"] else "\n".join(lines)


def run_program(program, inputs, timeout_s, max_chars, trace=None):
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
    results = [run_one(f, text, timeout_s, max_chars) for text in inputs]
    if trace is not None:
        loops = for_loops(program)
        for text, r in zip(inputs, results):
            if r["ok"]:
                try:
                    r["trace"] = trace_call(f, text, timeout_s, int(trace["maxLines"]), int(trace["maxChars"]), loops)
                except (Timeout, Exception):  # passed twice untraced: a trace that fails is just absent
                    r["trace"] = None
    return results


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
            results = run_program(req["program"], req["inputs"], float(req.get("timeoutS", 2.0)), int(req.get("maxOutputChars", 400)), req.get("trace"))
            out = {"results": results}
        except Exception as e:  # a malformed request: answer, never die
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
