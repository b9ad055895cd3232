"""Checks that need only Python's parser (azr-spec §5.2–5.3), as pure functions: no task code runs.

Covers: banned imports and attribute chains (check 2, with the cheap text prefilter before the
AST walk), the input as a literal argument list compiled into a builder of fresh arguments
(check 1), `f`'s arity without calling it (check 3) and the exact-builtin-type test of a result
(check 7, read with type(), never through the object). Not: verdicts (the Node side decides).
"""
import ast
import marshal
import re
import unicodedata


def dotted(node):
    """`a.b.c` for an attribute chain over a name, else None."""
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        return None
    parts.append(node.id)
    parts.reverse()
    return ".".join(parts)


def banned_hit(path, words):
    """The banned entry that a dotted import path hits (azr-spec §5.3 check 2), or None."""
    comps = path.split(".")
    for w in words:
        if "." in w:
            if path == w or path.startswith(w + "."):
                return w
        elif w in comps:
            return w
    return None


def find_banned(tree, words):
    """First banned import / attribute chain / literal dynamic import in the tree, or None."""
    if not words:
        return None
    dotted_words = [w for w in words if "." in w]
    for node in ast.walk(tree):
        t = type(node)
        if t is ast.Import:
            for a in node.names:
                hit = banned_hit(a.name, words)
                if hit:
                    return hit
        elif t is ast.ImportFrom:
            mod = node.module or ""
            hit = banned_hit(mod, words) if mod else None
            if hit:
                return hit
            for a in node.names:
                hit = banned_hit(a.name, words) or (banned_hit(mod + "." + a.name, words) if mod else None)
                if hit:
                    return hit
        elif t is ast.Attribute and dotted_words:
            chain = dotted(node)
            if chain:
                for w in dotted_words:
                    if chain == w or chain.startswith(w + "."):
                        return w
        elif t is ast.Call and node.args:
            fn = node.func
            name = fn.id if type(fn) is ast.Name else (fn.attr if type(fn) is ast.Attribute else None)
            arg = node.args[0]
            if name in ("__import__", "import_module") and type(arg) is ast.Constant and type(arg.value) is str:
                hit = banned_hit(arg.value, words)
                if hit:
                    return hit
    return None


_word_cache = {}


def may_hit_banned(text, words):
    """False only if no banned entry can match: some word of every entry is absent from the text."""
    key = tuple(words)
    pattern = _word_cache.get(key)
    if pattern is None:
        parts = sorted({p for w in words for p in w.split(".")} | {"__import__", "import_module"})
        pattern = _word_cache[key] = re.compile(r"\b(?:%s)\b" % "|".join(re.escape(p) for p in parts))
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    present = set(pattern.findall(text))
    if "__import__" in present or "import_module" in present:
        return True
    return any(all(p in present for p in w.split(".")) for w in words)


class NotLiteral(Exception):
    pass


def build_value(node):
    """A fresh Python value from a literal AST node (azr-spec §5.2); NotLiteral otherwise."""
    t = type(node)
    if t is ast.Constant:
        v = node.value
        if v is Ellipsis or type(v) is complex:
            raise NotLiteral("not a literal")
        return v
    if t is ast.List:
        return [build_value(e) for e in node.elts]
    if t is ast.Tuple:
        return tuple([build_value(e) for e in node.elts])
    if t is ast.Set:
        return {build_value(e) for e in node.elts}
    if t is ast.Dict:
        if None in node.keys:
            raise NotLiteral("dict unpacking is not a literal")
        return {build_value(k): build_value(v) for k, v in zip(node.keys, node.values)}
    if t is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
        v = build_value(node.operand)
        if type(v) not in (int, float, bool):
            raise NotLiteral("unary sign on a non-number")
        return -v if type(node.op) is ast.USub else +v
    if t is ast.Name:
        if node.id == "inf":
            return float("inf")
        if node.id == "nan":
            return float("nan")
        raise NotLiteral("name " + node.id)
    if t is ast.Call and type(node.func) is ast.Name and node.func.id == "set" and not node.args and not node.keywords:
        return set()
    raise NotLiteral(type(node).__name__)



LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp,
                 ast.USub, ast.UAdd, ast.Load, ast.Name, ast.Call, ast.keyword)
LITERAL_NAMES = ("inf", "nan", "set")


def parse_call(text):
    """Validate `f(<text>)` as a literal argument list and compile a builder for its arguments.

    Returns (n positional, keyword names, builder); the builder makes fresh (args, kwargs) each
    time, at C speed, from a tree already proven literal-only here (and by the trusted TypeScript
    parser before it): marshal bytes of the values (for marshal.loads), or where the arguments hold a set
    a code object for eval(code, LITERAL_GLOBALS), so a set's iteration order is always that of
    its display evaluated in source order.
    """
    tree = ast.parse("f(" + text + "\n)", mode="eval")
    call = tree.body
    if type(call) is not ast.Call or type(call.func) is not ast.Name or call.func.id != "f":
        raise NotLiteral("the input is not one argument list")
    for a in call.args:
        if type(a) is ast.Starred:
            raise NotLiteral("starred argument")
    for k in call.keywords:
        if k.arg is None:
            raise NotLiteral("** argument")
    parts = call.args + [k.value for k in call.keywords]
    # Fast path: every tree build_value accepts also passes check_literal_parts' node walk (it
    # accepts a subset of LITERAL_NODES, with the same name, call, operator and constant rules),
    # so when it succeeds on every part the walk cannot fail and is skipped; when it fails, the
    # full check runs as before and raises the same error.
    try:
        values = [build_value(part) for part in parts]
    except Exception:
        check_literal_parts(parts)  # raises the walk's error, or build_value's again
        raise
    # marshal instead of compiling a builder (~20 us less per new input). marshal.loads makes new
    # containers on every call, and build_value never puts one mutable object in two places, so
    # no run's arguments share anything mutable with another's (only immutable scalars may be
    # shared, as a code object's constants are). Sets go the compiled way (see above).
    if not ("{" in text or "set" in text) or not _holds_set(values):
        npos = len(call.args)
        try:
            return npos, [k.arg for k in call.keywords], marshal.dumps((values[:npos], dict(zip([k.arg for k in call.keywords], values[npos:]))))
        except ValueError:  # nested beyond marshal's depth limit: compile instead
            pass
    builder = ast.Expression(ast.Tuple([ast.List(call.args, ast.Load()),
                                        ast.Dict([ast.Constant(k.arg) for k in call.keywords], [k.value for k in call.keywords])], ast.Load()))
    # The only nodes without a location are the four made here (parsed ones all have theirs):
    # give them what ast.fix_missing_locations would (1, 0, 1, 0) without its walk of the tree.
    for node in (builder.body, builder.body.elts[0], builder.body.elts[1], *builder.body.elts[1].keys):
        node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = 1, 0, 1, 0
    return len(call.args), [k.arg for k in call.keywords], compile(builder, "<input>", "eval")


def _holds_set(v):
    t = type(v)
    if t is set:
        return True
    if t is list or t is tuple:
        return any(map(_holds_set, v))
    if t is dict:
        return any(map(_holds_set, v.values()))  # keys are hashable: never a set
    return False


def check_literal_parts(parts):
    """Every node of every argument is a literal node (raises NotLiteral naming the first that is
    not), then each builds (build_value's own errors: signs on non-numbers, unhashable keys)."""
    for part in parts:
        for node in ast.walk(part):
            t = type(node)
            if t not in LITERAL_NODES:
                raise NotLiteral(t.__name__)
            if t is ast.Name and node.id not in LITERAL_NAMES:
                raise NotLiteral("name " + node.id)
            if t is ast.Call and not (type(node.func) is ast.Name and node.func.id == "set" and not node.args and not node.keywords):
                raise NotLiteral("call")
            if t is ast.UnaryOp and type(node.op) not in (ast.USub, ast.UAdd):
                raise NotLiteral("operator")
            if t is ast.Constant and (node.value is Ellipsis or type(node.value) is complex):
                raise NotLiteral("not a literal")
            if t is ast.Dict and None in node.keys:
                raise NotLiteral("dict unpacking")
        build_value(part)  # types of signed operands, hashability of keys: raise now, not in the task


def arity_error(fn, npos, kwnames):
    """Why `fn` cannot take these arguments (plain Python functions only), or None."""
    if type(fn) is not type(arity_error):
        return None if callable(fn) else "f is not callable"
    code = fn.__code__
    flags = code.co_flags
    argc, posonly, kwonly = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    names = code.co_varnames
    defaults = fn.__defaults__ or ()
    kwdefaults = fn.__kwdefaults__ or {}
    if npos > argc and not flags & 0x04:
        return "f takes %d positional arguments but %d were given" % (argc, npos)
    bound = set(names[:min(npos, argc)])
    for k in kwnames:
        if k in names[posonly:argc + kwonly]:
            if k in bound:
                return "f got multiple values for argument '%s'" % k
            bound.add(k)
        elif not flags & 0x08:
            return "f got an unexpected keyword argument '%s'" % k
    required = names[:argc - len(defaults)]
    missing = [n for n in required if n not in bound]
    missing += [n for n in names[argc:argc + kwonly] if n not in bound and n not in kwdefaults]
    if missing:
        return "f missing required arguments: " + ", ".join(missing)
    return None


SCALARS = frozenset((int, float, str, bool, bytes, type(None)))
CONTAINERS = frozenset((list, tuple, set, dict))


def literal_kind(v, depth):
    """None if v is built only from exact builtin literal types (azr-spec §5.2), else the culprit
    type's name. Types are read with type(), never through the object, so no user code runs."""
    t = type(v)
    if t in SCALARS:
        return None
    if depth > 100:
        return "nesting deeper than 100"
    if t is dict:
        kinds = set(map(type, v)) | set(map(type, v.values()))
        items = list(v) + list(v.values())
    elif t is list or t is tuple or t is set:
        kinds = set(map(type, v))
        items = v
    else:
        return t.__name__ if type(t.__name__) is str else "object"
    if kinds <= SCALARS:  # the common flat case, checked at C speed
        return None
    for x in items:
        if type(x) not in SCALARS:
            bad = literal_kind(x, depth + 1)
            if bad:
                return bad
    return None

