"""EvalPlus's sanitizer, with Python's own parser: what `evalplus.sanitize` does to a completion
before EvalPlus evaluates it, so `--code-prompt evalplus` scores programs as EvalPlus would.

1. The longest run of two or more consecutive lines that parses (counting non-blank lines; the
   first such run when several are as long): text around the code, or a half-written last
   function, falls away. When no such run parses, the first line (EvalPlus's default).
2. Of its top-level statements, imports are all kept (not `from __future__`, which tree-sitter
   names differently); functions that contain a `return` statement, classes and assignments are
   kept when the entry function reaches them through the identifiers they contain (names,
   attributes, parameters, keyword arguments...; directly or through other kept definitions), the
   first definition of a name only. Everything else is dropped: prints, asserts, calls,
   `if __name__ == "__main__":` blocks, augmented assignments, and decorated functions and classes
   (tree-sitter's `decorated_definition`, which EvalPlus does not keep), as are functions without a
   `return` (they do not claim their name, so a later definition with one is kept). Imports first,
   then the kept definitions in their order in the text, each as its own source text (what follows
   it after a `;` is not part of it).
An assignment is named by its first target when that is a plain name, else by its value when that
is a plain name (tree-sitter's first identifier child); one with no such name is never reached.
Without an entry function every named definition is kept. Runs in the sandboxed child (the text is
the model's), inside the first test's time limit: the search for the longest run skips starts
that cannot parse (an indented first line, or one starting with a character no statement starts
with: a markdown fence) and counts lines in O(1). A text with no parsable
line gives "".
Not: tree-sitter (EvalPlus's parser): the same rules on Python's ast, so a first line that does
not parse gives "" where tree-sitter's error recovery might keep part of it.
"""
import ast


def _parses(text):
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _indented(line):
    """True when no text starting with `line` can parse: its first token is an INDENT."""
    try:
        ast.parse(line)
        return False
    except IndentationError as e:
        return e.msg == "unexpected indent" and e.lineno == 1
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


# No Python statement starts with one of these (markdown fences, closing brackets, prose
# punctuation): a run whose first code line does cannot parse, whatever follows it.
_NEVER_FIRST = frozenset("`$?!)]},;:=")


def _cannot_start(line):
    head = line.lstrip(" \t\f")
    return bool(head) and head[0] in _NEVER_FIRST


def longest_parsable(text):
    """EvalPlus's code_extract: of the runs lines[i..j] with j > i that parse, the first with the
    most non-blank lines; lines[0] when none does."""
    lines = text.split("\n")
    if _parses(text):
        return text
    filled = [0]  # filled[k]: non-blank lines among lines[:k]
    for line in lines:
        filled.append(filled[-1] + (1 if line.strip() else 0))
    # code[i]: the first line from i on that the tokenizer does not skip (blank or comment only)
    code = [len(lines)] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        quiet = not lines[i].strip(" \t\f\r") or lines[i].lstrip(" \t\f").startswith("#")
        code[i] = code[i + 1] if quiet else i
    best, span = 0, (0, 0)
    for i in range(len(lines) - 1):
        if filled[-1] - filled[i] <= best:
            break  # no later start has more lines left than the best run has
        top = len(lines) - 1
        if code[i] < len(lines) and (_cannot_start(lines[code[i]]) or _indented(lines[code[i]])):
            top = code[i] - 1  # only the blank and comment lines before it can parse
        for j in range(top, i, -1):
            size = filled[j + 1] - filled[i]
            if size <= best:
                break  # shorter runs from this start cannot win
            if _parses("\n".join(lines[i:j + 1])):
                best, span = size, (i, j)
                break
    return "\n".join(lines[span[0]:span[1] + 1])


def _defined_name(node):
    """The name EvalPlus files a kept top-level statement under, or None if it keeps no such statement."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None if node.decorator_list else node.name
    if isinstance(node, ast.Assign):
        first = node.targets[0]
        if isinstance(first, ast.Name):
            return first.id
        if len(node.targets) == 1 and isinstance(node.value, ast.Name):
            return node.value.id
        return None
    if isinstance(node, ast.AnnAssign):
        if isinstance(node.target, ast.Name):
            return node.target.id
        return node.value.id if isinstance(node.value, ast.Name) else None
    return None


def _has_return(node):
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _identifiers(node):
    """Every identifier in the node's text, as tree-sitter's `identifier` leaves are (not only the
    names it loads: attributes, parameters, keyword arguments, imported and defined names too)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.keyword):
            if n.arg is not None:
                out.add(n.arg)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.update(n.name.split("."))
            if n.asname:
                out.add(n.asname)
        elif isinstance(n, ast.ImportFrom):
            if n.module:
                out.update(n.module.split("."))
        elif isinstance(n, ast.ExceptHandler):
            if n.name:
                out.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        elif hasattr(ast, "MatchAs") and isinstance(n, (ast.MatchAs, ast.MatchStar)):
            if n.name:
                out.add(n.name)
        elif hasattr(ast, "MatchMapping") and isinstance(n, ast.MatchMapping):
            if n.rest:
                out.add(n.rest)
        elif hasattr(ast, "MatchClass") and isinstance(n, ast.MatchClass):
            out.update(n.kwd_attrs)
    return out


def sanitize(text, entry=None):
    code = longest_parsable(text)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""

    def source(node):
        return ast.get_source_segment(code, node)

    imports, defs, seen = [], [], set()
    for node in tree.body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module != "__future__"):
            imports.append(node)
            continue
        name = _defined_name(node)
        if name is None or name in seen:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _has_return(node):
            continue  # EvalPlus keeps a function only with a return, and it claims no name without one
        seen.add(name)
        defs.append((name, node))
    keep = {name for name, _ in defs}
    if entry is not None:
        uses = {name: _identifiers(node) for name, node in defs}
        keep, todo = set(), [entry]
        while todo:
            name = todo.pop()
            if name in keep or name not in uses:
                continue
            keep.add(name)
            todo.extend(uses[name])
    parts = [source(n) for n in imports] + [source(node) for name, node in defs if name in keep]
    return "\n".join(parts) + ("\n" if parts else "")
