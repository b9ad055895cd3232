"""Comparing a program's outputs with the expected ones (trusted: only builtin values from marshal).

EvalPlus semantics: Python's == on builtin values; floats (or flat sequences of floats) within an
absolute tolerance; for HumanEval/32 any root is right. LiveCodeBench stdin tests compare stdout
line by line. Covers: the comparisons. Not: running programs (eval_child.py).
"""
import math


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


def matches(out, exp, args, atol, oracle):
    if oracle == "poly-root":
        # Any root is right (HumanEval/32 find_zero): the value at it must be ~0.
        return isinstance(out, (int, float)) and not isinstance(out, bool) and abs(_poly(args[0], out)) <= (atol or 1e-6)
    if out == exp:  # Python's == on builtin values, as EvalPlus compares
        return True
    if _is_floats(exp):
        return _close(out, exp, atol if atol else 1e-6)
    return False


def stdout_matches(out, expected):
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
