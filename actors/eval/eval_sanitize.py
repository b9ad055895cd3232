"""EvalPlus's sanitizer, with Python's own parser: what `evalplus.sanitize` does to a completion
before EvalPlus evaluates it, so `--code-prompt evalplus` scores programs as EvalPlus would.

1. The longest run of consecutive lines that parses (counting non-blank lines): text around the
   code, or a half-written last function, falls away.
2. Of its top-level statements, imports are all kept; functions, classes and assignments are kept
   when the entry function reaches them through the names it uses (directly or through other kept
   definitions), the first definition of a name only; everything else (prints, asserts, calls,
   `if __name__ == "__main__":` blocks) is dropped. Imports first, then the kept definitions in
   their order in the text.
Without an entry function every definition is kept. Runs in the sandboxed child (the text is the
model's); a text with no parsable line gives "".
Not: tree-sitter (EvalPlus's parser): the same rules on Python's ast.
"""
import ast


def _parses(text):
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def longest_parsable(text):
    lines = text.split("\n")
    if _parses(text):
        return text
    best, span = 0, (0, -1)
    for i in range(len(lines)):
        if not lines[i].strip():
            continue
        for j in range(len(lines) - 1, i - 1, -1):
            size = sum(1 for line in lines[i:j + 1] if line.strip())
            if size <= best:
                break  # shorter spans from this start cannot win
            if _parses("\n".join(lines[i:j + 1])):
                best, span = size, (i, j)
                break
    return "\n".join(lines[span[0]:span[1] + 1])


def _defined_name(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            return targets[0].id
    return None


def _used_names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def sanitize(text, entry=None):
    code = longest_parsable(text)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""
    lines = code.split("\n")

    def source(node):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(lines[start - 1:node.end_lineno])

    imports, defs, seen = [], [], set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
            continue
        name = _defined_name(node)
        if name is not None and name not in seen:
            seen.add(name)
            defs.append((name, node))
    keep = {name for name, _ in defs}
    if entry is not None:
        uses = {name: _used_names(node) for name, node in defs}
        keep, todo = set(), [entry]
        while todo:
            name = todo.pop()
            if name in keep or name not in uses:
                continue
            keep.add(name)
            todo.extend(uses[name])
    parts = [source(n) for n in imports] + [source(node) for name, node in defs if name in keep]
    return "\n".join(parts) + ("\n" if parts else "")
