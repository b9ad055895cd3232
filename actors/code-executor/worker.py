"""azr code-executor worker: runs model-written Python under Absolute Zero's rules (azr-spec §5).

Covers: the pipe protocol with the Node parent (4-byte big-endian length + msgpack map, batches
in, one result frame per task out, streamed), the static checks that need Python's own parser
(syntax, banned imports, `f` arity), running `f` twice on freshly built arguments, the
exact-builtin-type literal check and the capped repr of every result, stdout/stderr capture,
the in-process guard (PEP 578 audit hook, resource limits, integrity check after every task)
and the `strict` path (one forked child per task, killed by this parent on the wall clock).

Not: verdicts. This process may have run hostile code, so it only reports observations (repr
text, exception names, exit codes); the trusted Node side parses the literals and decides
(azr-spec §5.2). Not the OS sandbox either: the parent starts this file inside bubblewrap.

Why the result channel is out of the task's reach: fds 0/1 (requests/results, FIFOs) are kept only as
O_PATH descriptors while task code runs (writes to them fail with EBADF) and are re-opened
through /proc/self/fd after the task; the audit hook refuses every /proc, relative or symlinked
open from task code, refuses frame introspection (so the task cannot walk into this module's
locals) and refuses process creation, sockets, ctypes and new audit hooks. Anything the task
leaves behind (threads, signal handlers, patched modules, changed cwd/env/fds) is found by the
integrity check before the channel is re-opened; the worker then exits with a code that names
the pollution (EXIT_POLLUTED + k) without writing anything, and the parent re-runs the task in
strict mode.
"""
import os
import sys

# Everything the task may reasonably import is imported before the first task, so a task that
# imports it does not change sys.modules (a task that imports something new retires the worker).
import ast
import bisect
import builtins
import collections
import copy
import decimal
import fractions
import functools
import gc
import heapq
import io
import itertools
import math
import operator
import re
import resource
import select
import signal
import string
import time
import traceback
import typing
import unicodedata
import _thread

import msgpack

EXIT_POLLUTED = 80  # 80 + index into POLLUTION_KINDS; Node maps it back to a name
POLLUTION_KINDS = ("modules", "builtins", "threads", "signals", "fds", "cwd", "environment",
                   "hooks", "recursion", "references", "scratch", "new-modules", "limits")
EXIT_PROTOCOL = 70
CACHE_SIZE = 512  # compiled programs / argument builders kept per worker
PROC_OPEN_DENIED = ("/proc", "/sys", "/dev/fd", "/dev/std", "/dev/mem", "/dev/kmem", "/dev/port")
DENIED_EVENTS = frozenset((
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "os.chdir", "os.chroot", "os.chmod", "os.chown",
    "os.link", "os.symlink", "os.rename", "os.mkfifo", "os.mknod", "os.setxattr",
    "os.removexattr", "os.truncate", "os.utime", "os.add_dll_directory", "os.startfile",
    "signal.pthread_kill", "subprocess.Popen", "pty.spawn", "mmap.__new__", "resource.setrlimit",
    "resource.prlimit", "sys.addaudithook", "sys._getframe", "sys._current_frames",
    "sys._current_exceptions", "sys.setprofile", "sys.settrace", "gc.get_objects",
    "gc.get_referrers", "gc.get_referents", "fcntl.fcntl", "fcntl.ioctl", "fcntl.flock",
    "fcntl.lockf", "sys.unraisablehook", "cpython.run_command", "cpython.run_file",
    "cpython.PyInterpreterState_Clear", "code.__new__", "function.__new__", "setopencodehook",
    "webbrowser.open", "ftplib.connect", "http.client.connect", "urllib.Request",
    "smtplib.connect", "poplib.connect", "imaplib.open", "nntplib.connect", "telnetlib.Telnet.open",
))
DENIED_PREFIXES = ("socket.", "ctypes.", "_ctypes.", "os.exec", "os.spawn", "os.posix_spawn",
                   "winreg.", "msvcrt.", "_winapi.", "shutil.", "sqlite3.")
# Imports are not the boundary (every dangerous operation raises a denied audit event, and the
# kernel refuses new processes under RLIMIT_NPROC): libraries import these modules legitimately
# (numpy imports ctypes, sympy subprocess). Only modules with unaudited raw powers are refused,
# plus process-spawning ones when RLIMIT_NPROC cannot be enforced.
DENIED_MODULES = frozenset(("_xxsubinterpreters", "_testcapi", "_testinternalcapi", "_ctypes_test",
                            "_testbuffer", "_testmultiphase"))
DENIED_WITHOUT_NPROC = frozenset(("subprocess", "_posixsubprocess", "multiprocessing",
                                  "_multiprocessing", "pty", "concurrent"))
# Reads that hand out a frame (from which f_back/f_locals reach this module's locals).
FRAME_ATTRS = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"))
# Writes that would change code we run after the task (or a class's ancestry).
# (__defaults__ stays writable: libraries such as sympy set it while importing; our own
# helpers are called through captured references with every argument given.)
SETATTR_DENIED = frozenset(("__code__", "__bases__", "__class__", "__dict__", "__mro__"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


# ---------------------------------------------------------------- static checks (pure functions)
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


# Modules trusted code imports on a program's behalf (see adopt_imports): common libraries
# without import-time side effects.
ADOPTABLE_MODULES = frozenset((
    "numpy", "sympy", "scipy", "statistics", "json", "queue", "base64", "zlib", "secrets", "random",
    "hashlib", "hmac", "datetime", "calendar", "textwrap", "array", "enum", "dataclasses", "numbers",
    "cmath", "pprint", "difflib", "struct", "binascii", "uuid", "timeit", "time", "string", "abc",
    "bisect", "heapq", "itertools", "functools", "collections", "math", "re", "copy", "typing",
    "fractions", "decimal", "operator", "unicodedata", "contextlib", "weakref", "graphlib", "io",
))
IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))", re.M)

LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp,
                 ast.USub, ast.UAdd, ast.Load, ast.Name, ast.Call, ast.keyword)
LITERAL_NAMES = ("inf", "nan", "set")


def parse_call(text):
    """Validate `f(<text>)` as a literal argument list and compile a builder for its arguments.

    Returns (n positional, keyword names, code) where eval(code, LITERAL_GLOBALS) makes fresh
    (args, kwargs) each time — C-speed construction of a tree already proven literal-only here
    (and by the trusted TypeScript parser before it).
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
    builder = ast.Expression(ast.Tuple([ast.List(call.args, ast.Load()),
                                        ast.Dict([ast.Constant(k.arg) for k in call.keywords], [k.value for k in call.keywords])], ast.Load()))
    ast.fix_missing_locations(builder)
    return len(call.args), [k.arg for k in call.keywords], compile(builder, "<input>", "eval")


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


# ---------------------------------------------------------------- the worker
def main():
    # Captured once: trusted code after a task uses only these locals, never module globals or
    # builtins lookups the task could have replaced.
    _os_open, _os_close, _os_read, _os_write, _os_dup2 = os.open, os.close, os.read, os.write, os.dup2
    _fstat, _listdir, _getcwd, _realpath = os.fstat, os.listdir, os.getcwd, os.path.realpath
    _fork, _waitpid, _kill, _exit, _pipe = os.fork, os.waitpid, os.kill, os._exit, os.pipe
    _packb, _unpackb = msgpack.packb, msgpack.unpackb
    _getrlimit, _setrlimit, _getrusage = resource.getrlimit, resource.setrlimit, resource.getrusage
    _sig_signal, _alarm = signal.signal, signal.alarm
    _setitimer = signal.setitimer
    import _signal
    _c_getsignal, _c_sigmask = _signal.getsignal, _signal.pthread_sigmask
    _getrecursionlimit = sys.getrecursionlimit
    _gc_collect, _gc_disable = gc.collect, gc.disable
    _select = select.select
    _thread_count, _start_thread = _thread._count, _thread.start_new_thread
    _tuple, _map, _id, _len, _zip, _type, _sorted, _list = tuple, map, id, len, zip, type, sorted, list
    _repr, _str_encode, _dict, _StringIO = repr, str.encode, dict, io.StringIO
    _monotonic = time.monotonic
    _literal_kind, _find_banned, _parse_call, _arity_error = literal_kind, find_banned, parse_call, arity_error
    _may_hit = may_hit_banned
    _BaseException, _MemoryError, _SyntaxError, _NotLiteral = BaseException, MemoryError, SyntaxError, NotLiteral
    _compile, _exec, _callable, _eval = compile, exec, callable, eval
    literal_globals = {"__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "set": set}
    _ast_parse = ast.parse
    sys_mod, builtins_dict, os_environ = sys, builtins.__dict__, os.environ
    debug = bool(os.environ.get("AZR_WORKER_STDERR"))

    cfg = _unpackb(_read_startup_frame(), raw=False)
    scratch = cfg.get("scratch", "/tmp/scratch")
    memory_bytes = int(cfg.get("memoryMB", 1024)) << 20
    stdout_cap = int(cfg.get("stdoutCap", 8192))
    os.makedirs(scratch, exist_ok=True)
    os.chdir(scratch)


    # Channels: fds 0/1 are FIFOs whose other ends the Node parent holds open for reading and
    # writing (so dropping ours never reads as EOF there). Keep them only as O_PATH (unwritable)
    # and put /dev/null in their place; /proc/self/fd/<O_PATH fd> re-opens them after a task.
    p_in = _os_open("/proc/self/fd/0", os.O_PATH | os.O_CLOEXEC)
    p_out = _os_open("/proc/self/fd/1", os.O_PATH | os.O_CLOEXEC)
    in_id = (_fstat(p_in).st_dev, _fstat(p_in).st_ino)
    out_id = (_fstat(p_out).st_dev, _fstat(p_out).st_ino)
    null = _os_open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        _os_dup2(null, fd)  # fd 2 follows once start-up cannot fail any more
    _os_close(null)
    keep = {0, 1, 2, p_in, p_out}
    for name in _listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                _os_close(fd)
            except OSError:
                pass

    # Resource limits (the parent refuses to run without them; it reads what we report).
    limits = {}
    try:
        _setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        limits["as"] = memory_bytes
    except (ValueError, OSError) as e:
        limits["as_error"] = str(e)
    _setrlimit(resource.RLIMIT_CORE, (0, 0))
    _setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    _setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    cpu_hard = _getrlimit(resource.RLIMIT_CPU)[1]
    limits["cpu"] = True
    # RLIMIT_NPROC counts this uid's processes; find how many exist by probing with a thread,
    # then allow exactly one more (the strict child) and only while we fork it.
    nproc_count = None
    hard = _getrlimit(resource.RLIMIT_NPROC)[1]
    for k in range(1, 64):
        try:
            _setrlimit(resource.RLIMIT_NPROC, (k, hard))
            _start_thread(lambda: None, ())
            nproc_count = k - 1 if k > 1 else None  # a limit of 1 cannot admit a thread: not enforced
            break
        except RuntimeError:
            continue
    while _thread_count():
        pass
    if nproc_count is not None and nproc_count < 60:
        _setrlimit(resource.RLIMIT_NPROC, (nproc_count, nproc_count + 1))
        limits["nproc"] = nproc_count + 1
    else:
        _setrlimit(resource.RLIMIT_NPROC, (hard, hard))
        limits["nproc_error"] = "RLIMIT_NPROC is not enforced for this uid (root?)"

    # The audit hook: `state[0]` is True while task code runs. It lives only in this frame and
    # the hook's closure, neither reachable from task code (frame access is denied below).
    state = [False]

    def audit(event, args):
        if not state[0]:
            if event == "sys.addaudithook":
                raise PermissionError("sandbox: no further audit hooks")
            return
        if event in DENIED_EVENTS or event.startswith(DENIED_PREFIXES):
            if event == "sys._getframe":
                raise ValueError("sandbox: frame access denied")  # typing/namedtuple tolerate ValueError
            raise PermissionError("sandbox: %s denied" % event)
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            tp = _type(path)
            if tp is int:
                return
            if tp is not str and tp is not bytes:
                raise PermissionError("sandbox: open of a %s path denied" % tp.__name__)
            p = path.decode("utf-8", "replace") if tp is bytes else path
            writing = (_type(flags) is int and flags & WRITE_FLAGS) or (_type(mode) is str and ("w" in mode or "a" in mode or "+" in mode or "x" in mode))
            if not p.startswith("/"):
                raise PermissionError("sandbox: relative open denied (use an absolute path)")
            real = _realpath(p)
            if real.startswith(PROC_OPEN_DENIED) or p.startswith(PROC_OPEN_DENIED):
                raise PermissionError("sandbox: open of %s denied" % p)
            if writing and not (real == scratch or real.startswith(scratch + "/")):
                raise PermissionError("sandbox: write outside the scratch directory denied")
            return
        if event in ("os.remove", "os.rmdir", "os.mkdir"):
            p = args[0]
            if _type(p) is not str or not _realpath(p).startswith(scratch + "/"):
                raise PermissionError("sandbox: %s outside the scratch directory denied" % event)
            return
        if event == "import":
            name = args[0]
            top = name.split(".")[0] if _type(name) is str else ""
            if top in DENIED_MODULES or (top in DENIED_WITHOUT_NPROC and "nproc" not in limits):
                raise PermissionError("sandbox: import of %s denied" % name)
            return
        if event == "object.__getattr__":
            if args[1] in FRAME_ATTRS:
                raise PermissionError("sandbox: access to %s denied" % args[1])
        elif event == "object.__setattr__" or event == "object.__delattr__":
            if args[1] in SETATTR_DENIED:
                raise PermissionError("sandbox: changing %s denied" % args[1])

    sys.addaudithook(audit)
    del audit

    # ---------------------------------------------------------------- integrity snapshot
    def module_dicts():
        out = []
        for m in _list(sys_mod.modules.values()):
            d = getattr(m, "__dict__", None)
            if _type(d) is _dict:
                out.append(d)
                for v in _list(d.values()):
                    if _type(v) is _type and v.__flags__ & (1 << 9):  # heap types are mutable
                        out.append(v.__dict__)
        return out

    def sys_state():
        return (sys_mod.gettrace(), sys_mod.getprofile(), sys_mod.excepthook, sys_mod.displayhook,
                sys_mod.breakpointhook, sys_mod.unraisablehook, _tuple(sys_mod.meta_path),
                _tuple(sys_mod.path_hooks), _tuple(sys_mod.path), sys_mod.modules,
                sys_mod.flags, builtins.__dict__, os.environ)

    # One set of capture streams for the worker's life: re-assigning sys.stdout per task would
    # mutate sys's dict every time and defeat the one-version-tag-per-dict integrity check.
    cap_in, cap_out, cap_err = _StringIO(""), _StringIO(), _StringIO()
    sys_mod.stdin, sys_mod.stdout, sys_mod.stderr = cap_in, cap_out, cap_err
    std_streams = (cap_in, cap_out, cap_err)
    signals = [s for s in range(1, signal.NSIG) if s not in (signal.SIGKILL, signal.SIGSTOP) and _safe_getsignal(s) is not None]
    sig_handlers = _tuple(_map(_c_getsignal, signals))
    ALL_SIGNALS = signal.valid_signals()

    _chain, _values_of = itertools.chain.from_iterable, operator.methodcaller("values")
    env_data = os_environ._data  # the bytes dict behind os.environ (putenv itself is denied)

    _is, _all, _sum = operator.is_, all, sum

    def same_entries(dicts, keys, values, total):
        """Every key and value of every dict is the very object snapshotted (C-level passes;
        identity only, so no __eq__ of a planted object ever runs)."""
        return (_sum(_map(_len, dicts)) == total and _all(_map(_is, _chain(dicts), keys))
                and _all(_map(_is, _chain(_map(_values_of, dicts)), values)))

    version_cell = dict_version_cells()
    _value = operator.attrgetter("value")

    def env_ids():
        return (_tuple(_map(_id, env_data)), _tuple(_map(_id, env_data.values())))

    def snapshot():
        dicts = module_dicts()
        keys, values = _tuple(_chain(dicts)), _tuple(_chain(_map(_values_of, dicts)))
        cells = [version_cell(d if _type(d) is _dict else gc.get_referents(d)[0]) for d in dicts] if version_cell else None
        versions = [_tuple(_map(_value, cells)) if cells else None]
        return (dicts, keys, values, _len(keys), _tuple(_map(_id, sys_mod.modules)), _tuple(_map(_id, sys_mod.modules.values())),
                sys_state(), env_ids(), _getrecursionlimit(), cells, versions)

    snap = [None]
    len_modules = [0]

    def refresh_snapshot():
        snap[0] = snapshot()
        len_modules[0] = _len(sys_mod.modules)

    def changed_dict(dicts, keys, values):
        """The first snapshotted dict that differs (slow path, only after the fast check failed)."""
        at = 0
        for d in dicts:
            n = _len(d)
            if not same_entries([d], keys[at:at + n], values[at:at + n], n):
                return d
            at += n
        return None

    def integrity():
        """Index into POLLUTION_KINDS of the first thing the last task changed, or -1."""
        dicts, keys, values, total, mod_names, mod_ids, sys_st, env, rec, cells, versions = snap[0]
        if _thread_count() or _len(_listdir("/proc/self/task")) != 1:
            return 2
        # ids, never ==: a planted key with its own __eq__ must not run here.
        names_now = _tuple(_map(_id, sys_mod.modules))
        if names_now != mod_names:
            if _len(names_now) > _len(mod_names) and names_now[:_len(mod_names)] == mod_names:
                new = 11
            else:
                return 0
        else:
            new = -1
        if _tuple(_map(_id, _list(sys_mod.modules.values())[:_len(mod_names)])) != mod_ids:
            return 0
        cur = sys_state()
        for a, b in _zip(cur, sys_st):
            if a is not b and not (_type(a) is _tuple and _type(b) is _tuple and _tuple(_map(_id, a)) == _tuple(_map(_id, b))):
                return 7
        # Fast path: no snapshotted dict was mutated at all (one version tag per dict).
        unchanged = cells is not None and _tuple(_map(_value, cells)) == versions[0]
        if debug and not unchanged and cells is not None:
            now = _tuple(_map(_value, cells))
            _os_write(2, ("versions changed: %s\n" % [dicts[i].get("__name__", dicts[i].get("__qualname__")) for i in range(_len(now)) if now[i] != versions[0][i]][:8]).encode())
        while not unchanged and not same_entries(dicts, keys, values, total):
            d = changed_dict(dicts, keys, values)
            # A warning raised inside a stdlib function leaves a registry in that module: a
            # cache, not a change of behaviour. Drop it and compare again.
            if d is not None and _type(d) is _dict and "__warningregistry__" in d:
                del d["__warningregistry__"]
                continue
            if debug and d is not None:
                _os_write(2, ("integrity: %s changed\n" % (d.get("__name__"),)).encode())
            return 1 if d is builtins_dict else 0
        if not unchanged and cells is not None:
            versions[0] = _tuple(_map(_value, cells))  # mutated, but every entry is the same object
        if _tuple(_map(_c_getsignal, signals)) != sig_handlers:
            return 3
        if _sorted(_listdir("/proc/self/fd")) != fds_expected:
            return 4
        if _fstat(p_in).st_ino != in_id[1] or _fstat(p_out).st_ino != out_id[1]:
            return 4
        if _getcwd() != scratch:
            return 5
        if os_environ._data is not env_data or env_ids() != env:
            return 6
        if _getrecursionlimit() != rec:
            return 8
        if cap_in.closed or cap_out.closed or cap_err.closed:
            return 9
        return new

    # ---------------------------------------------------------------- channel i/o
    buf = [b""]

    def send(msg):
        data = _packb(msg, use_bin_type=True)
        w = _os_open("/proc/self/fd/%d" % p_out, os.O_WRONLY | os.O_CLOEXEC)
        try:
            frame = (_len(data)).to_bytes(4, "big") + data
            while frame:
                n = _os_write(w, frame)
                frame = frame[n:]
        finally:
            _os_close(w)

    def recv():
        """Next request frame (blocking), or None at EOF."""
        r = None
        try:
            while True:
                b = buf[0]
                if _len(b) >= 4:
                    n = int.from_bytes(b[:4], "big")
                    if _len(b) >= 4 + n:
                        buf[0] = b[4 + n:]
                        return _unpackb(b[4:4 + n], raw=False)
                if r is None:
                    r = _os_open("/proc/self/fd/%d" % p_in, os.O_RDONLY | os.O_CLOEXEC)
                chunk = _os_read(r, 1 << 20)
                if not chunk:
                    return None
                buf[0] = b + chunk
        finally:
            if r is not None:
                _os_close(r)

    # ---------------------------------------------------------------- trusted imports
    def adopt_imports(job):
        """Import, as trusted code, the allowlisted modules the program's import lines name.

        Libraries such as sympy inspect frames while importing, which the task window forbids;
        importing them here (then re-taking the integrity snapshot) makes the verdict depend on
        the program text only, never on what earlier tasks left loaded."""
        text = (job.get("prelude") or "") + "\n" + job["code"]
        if "import" not in text:
            return
        names = set()
        for m in IMPORT_LINE.finditer(text):
            if m.group(1):
                names.add(m.group(1).split(".")[0])
            else:
                names.update(part.strip().split(".")[0] for part in m.group(2).split(","))
        new = [n for n in sorted(names) if n in ADOPTABLE_MODULES and n not in sys_mod.modules]
        if new:
            for n in new:
                try:
                    __import__(n)
                except Exception:
                    pass
            refresh_snapshot()

    # ---------------------------------------------------------------- one task
    def clean_scratch():
        for name in _listdir(scratch):
            _remove_tree(scratch + "/" + name)

    static_cache = {}
    call_cache = {}

    def static_check(code_text, banned):
        """("ok", code object) | ("syntax", {"error": …}) | ("banned", {"banned": entry}), cached."""
        key = (code_text, _tuple(banned))
        got = static_cache.get(key)
        if got is not None:
            return got
        try:
            # The AST walk for banned imports only runs when every word of some entry occurs in
            # the (NFKC-normalised, as Python reads identifiers) text; otherwise no match exists.
            tree = None
            if banned and _may_hit(code_text, banned):
                tree = _ast_parse(code_text)
                code_obj = _compile(tree, "<program>", "exec")
            else:
                code_obj = _compile(code_text, "<program>", "exec")
            hit = _find_banned(tree, banned) if tree is not None else None
            got = ("banned", {"banned": hit}) if hit else ("ok", code_obj)
        except _SyntaxError as e:
            got = ("syntax", {"error": {"type": "SyntaxError", "message": "%s (line %s)" % (e.msg, e.lineno)}})
        except (ValueError, OverflowError, _MemoryError, RecursionError) as e:
            got = ("syntax", {"error": {"type": _type(e).__name__, "message": str(e)[:300]}})
        if _len(static_cache) >= CACHE_SIZE:
            static_cache.clear()
        static_cache[key] = got
        return got

    def run_task(job, result_fd):
        """Run one job in this process; return its observation dict. `state[0]` brackets the
        task window; everything inside it may be hostile, everything after it is ours."""
        code_text = job["code"]
        calls = job.get("calls") or []
        runs = int(job.get("runs", 2))
        max_chars = int(job.get("maxOutputChars", 400))
        banned = job.get("banned") or []
        obs = {"id": job["id"]}
        # Static checks first (trusted: parsing only), cached by text: the same program is run
        # on many inputs (induction, abduction checks) and the same inputs recur.
        static = static_check(code_text, banned)
        if static[0] != "ok":
            obs["stage"] = static[0]
            obs.update(static[1])
            return obs
        code_obj = static[1]
        parsed_calls = []
        for text in calls:
            parsed = call_cache.get(text)
            if parsed is None:
                try:
                    parsed = ("ok", _parse_call(text))
                except (_SyntaxError, _NotLiteral, ValueError, RecursionError, _MemoryError) as e:
                    parsed = ("input", {"type": _type(e).__name__, "message": str(e)[:300]})
                if _len(call_cache) >= CACHE_SIZE:
                    call_cache.clear()
                call_cache[text] = parsed
            if parsed[0] != "ok":
                obs["stage"] = "input"
                obs["error"] = parsed[1]
                return obs
            parsed_calls.append(parsed[1])
        prelude_obj = None
        prelude = job.get("prelude") or ""
        if prelude:
            try:
                prelude_obj = _compile(prelude, "<imports>", "exec")
            except (_SyntaxError, ValueError) as e:
                obs["stage"] = "syntax"
                obs["error"] = {"type": "SyntaxError", "message": "in the import lines: %s" % (e,)}
                return obs
        keep_going = bool(job.get("continueOnError"))
        ns = {"__name__": "__azr_task__", "__builtins__": builtins}
        outputs = []
        out_io, err_io = cap_out, cap_err
        for stream in std_streams:
            stream.seek(0)
            stream.truncate(0)
        err = None
        stage = "ok"
        used0 = _getrusage(resource.RUSAGE_SELF)
        cpu_used = int(used0.ru_utime + used0.ru_stime)
        timeout_s = max(1, int((job.get("timeoutMs", 10000) + 999) // 1000))
        _setrlimit(resource.RLIMIT_CPU, (min(cpu_used + timeout_s + 1, cpu_hard if cpu_hard >= 0 else 1 << 40), cpu_hard))
        state[0] = True
        # ------------------------------------------------ task window (hostile code runs here)
        try:
            try:
                if prelude_obj is not None:
                    _exec(prelude_obj, ns)
                _exec(code_obj, ns)
                f = ns.get("f")
                if f is None:
                    stage = "no-f"
                elif not _callable(f):
                    stage = "no-f"
                    err = ("TypeError", "f is not callable")
                else:
                    for npos, kw_names, builder in parsed_calls:
                        why = _arity_error(f, npos, kw_names)
                        if why:
                            stage = "arity"
                            err = ("TypeError", why)
                            break
                        reprs = []
                        for _r in range(runs):
                            args, kwargs = _eval(builder, literal_globals)
                            if keep_going:
                                try:
                                    value = f(*args, **kwargs)
                                except _MemoryError:
                                    raise
                                except Exception as e:
                                    reprs.append({"literal": False, "error": {"type": _str_encode(_type(e).__name__, "utf-8", "replace"), "message": _str_encode(str(e)[:300], "utf-8", "replace")}})
                                    break
                            else:
                                value = f(*args, **kwargs)
                            bad = _literal_kind(value, 0)
                            if bad:
                                reprs.append({"literal": False, "type": _str_encode(bad, "utf-8", "replace")})
                            else:
                                try:
                                    text = _repr(value)
                                    reprs.append({"literal": True, "repr": text[:max_chars + 1] if _len(text) > max_chars else text, "len": _len(text)})
                                except ValueError as e:  # int too large to print
                                    reprs.append({"literal": True, "repr": "", "len": 1 << 30, "why": str(e)[:200]})
                            del value, args, kwargs
                        outputs.append(reprs)
            except _MemoryError:
                stage = "memory"
            except _BaseException as e:
                stage = "error"
                try:
                    err = (_str_encode(_type(e).__name__, "utf-8", "replace"), _str_encode(str(e)[:300], "utf-8", "replace"))
                except _BaseException:
                    err = (b"Exception", b"<unprintable exception>")
            out_text = out_io.getvalue() if not out_io.closed else ""
            err_text = err_io.getvalue() if not err_io.closed else ""
        except _BaseException:  # e.g. an exception whose __str__ raises BaseException again
            stage = "error"
            err = (b"BaseException", b"<escaped while reporting>")
            out_text = err_text = ""
        # ------------------------------------------------ end of the task window
        # A thread the task left behind could act once `state` is cleared: leave first.
        if _thread_count() or _len(_listdir("/proc/self/task")) != 1:
            _exit(EXIT_POLLUTED + 2)
        # (sys.settrace / sys.setprofile are denied to the task, so no tracer runs our code.)
        _c_sigmask(signal.SIG_BLOCK, ALL_SIGNALS)
        _alarm(0)
        _setitimer(signal.ITIMER_REAL, 0)
        _setitimer(signal.ITIMER_VIRTUAL, 0)
        _setitimer(signal.ITIMER_PROF, 0)
        for s, h in _zip(signals, sig_handlers):
            try:
                if _c_getsignal(s) is not h:
                    _sig_signal(s, h)
            except (OSError, ValueError, TypeError):
                pass
        if sys_mod.stdin is not cap_in or sys_mod.stdout is not cap_out or sys_mod.stderr is not cap_err:
            sys_mod.stdin, sys_mod.stdout, sys_mod.stderr = std_streams
        ns.clear()
        f = None
        _gc_collect(0)
        state[0] = False
        obs["stage"] = stage
        if err is not None:
            obs["error"] = {"type": err[0], "message": err[1]}
        obs["outputs"] = outputs
        obs["stdout"] = _str_encode(out_text[:stdout_cap], "utf-8", "replace") if _type(out_text) is str else b""
        obs["stderr"] = _str_encode(err_text[:stdout_cap], "utf-8", "replace") if _type(err_text) is str else b""
        obs["stdoutLen"] = _len(out_text) if _type(out_text) is str else 0
        return obs

    unreaped = []

    def reap():
        """Children that already delivered their result: kill (they are exiting anyway) and reap,
        so RLIMIT_NPROC has room for the next fork."""
        while unreaped:
            pid = unreaped.pop()
            try:
                _kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _waitpid(pid, 0)

    def run_strict(job):
        """Fork a child that runs the job and reports through its own pipe; kill it on the wall clock."""
        reap()
        r, w = _pipe()
        _setrlimit(resource.RLIMIT_NPROC, (limits.get("nproc", 1 << 20), limits.get("nproc", 1 << 20))) if "nproc" in limits else None
        try:
            pid = _fork()
        finally:
            if "nproc" in limits:
                _setrlimit(resource.RLIMIT_NPROC, (limits["nproc"] - 1, limits["nproc"]))
        if pid == 0:
            try:
                _os_close(r)
                _os_close(p_in)
                _os_close(p_out)
                wp = _os_open("/proc/self/fd/%d" % w, os.O_PATH | os.O_CLOEXEC)
                _os_close(w)
                if "nproc" in limits:
                    _setrlimit(resource.RLIMIT_NPROC, (0, 0))
                obs = run_task(job, wp)
                data = _packb(obs, use_bin_type=True)
                data = _len(data).to_bytes(4, "big") + data
                ww = _os_open("/proc/self/fd/%d" % wp, os.O_WRONLY | os.O_CLOEXEC)
                while data:
                    n = _os_write(ww, data)
                    data = data[n:]
                _exit(0)
            except _MemoryError:
                _exit(EXIT_POLLUTED + 12)
            except BaseException:
                if debug:
                    state[0] = False
                    _os_write(2, traceback.format_exc().encode())
            finally:
                _exit(EXIT_PROTOCOL)
        # Keep our write end open: the child drops its own while the task runs, and the pipe
        # must not read as EOF then. The child's exit is seen through a pidfd instead.
        pidfd = os.pidfd_open(pid)
        os.set_blocking(r, False)
        deadline = _monotonic() + job.get("timeoutMs", 10000) / 1000.0
        chunks = []
        timed_out = False
        exited = False
        got = 0
        complete = False
        while not exited and not complete:
            left = deadline - _monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = _select([r, pidfd], [], [], left)
            if pidfd in ready:
                exited = True
            if r in ready or exited:
                while True:
                    try:
                        chunk = _os_read(r, 1 << 20)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    chunks.append(chunk)
                    got += _len(chunk)
                if got >= 4:
                    head = b"".join(chunks)
                    complete = got >= 4 + int.from_bytes(head[:4], "big")
        _os_close(r)
        _os_close(w)
        _os_close(pidfd)
        if complete and not timed_out:
            # The result is whole: decode it now and let the child's exit happen off our path.
            data = b"".join(chunks)
            try:
                obs = _unpackb(data[4:4 + int.from_bytes(data[:4], "big")], raw=False)
                if _type(obs) is _dict and obs.get("id") == job["id"]:
                    unreaped.append(pid)
                    return obs
            except Exception:
                pass
        if timed_out:
            try:
                _kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = _waitpid(pid, 0)
        if timed_out:
            return {"id": job["id"], "stage": "timeout"}
        if os.WIFSIGNALED(status):
            return {"id": job["id"], "stage": "crash", "signal": os.WTERMSIG(status)}
        code = os.WEXITSTATUS(status)
        if code == EXIT_POLLUTED + 12:
            return {"id": job["id"], "stage": "memory"}
        if code == EXIT_POLLUTED + 2:
            return {"id": job["id"], "stage": "threads"}
        return {"id": job["id"], "stage": "crash", "exitCode": code}

    if not os.environ.get("AZR_WORKER_STDERR"):  # debugging aid: keep stderr to the parent
        null = _os_open("/dev/null", os.O_RDWR)
        _os_dup2(null, 2)
        _os_close(null)
    fds_expected = _sorted(_listdir("/proc/self/fd"))
    refresh_snapshot()
    _gc_disable()  # collections happen only at our chosen points (after each task)
    send({"t": "ready", "pid": os.getpid(), "uid": os.getuid(), "limits": limits,
          "python": sys.version.split()[0], "hashSeed": os.environ.get("PYTHONHASHSEED")})
    try:
        serve(recv, send, run_task, run_strict, integrity, clean_scratch, scratch, ALL_SIGNALS, len_modules, adopt_imports)
    except BaseException:
        state[0] = False  # our own failure, not the task's: let traceback read frames
        if os.environ.get("AZR_WORKER_STDERR"):
            os.write(2, traceback.format_exc().encode())
        try:
            send({"t": "fatal", "why": traceback.format_exc()[-4000:]})
        finally:
            _exit(EXIT_PROTOCOL)


def serve(recv, send, run_task, run_strict, integrity, clean_scratch, scratch, ALL_SIGNALS, len_modules, adopt_imports):
    """The request loop: jobs in, one result frame per job out."""
    import _signal
    _exit, _monotonic, _listdir, _sigmask = os._exit, time.monotonic, os.listdir, _signal.pthread_sigmask
    while True:
        msg = recv()
        if msg is None or msg.get("t") == "exit":
            _exit(0)
        if msg.get("t") != "jobs":
            send({"t": "fatal", "why": "unknown message %r" % (msg.get("t"),)})
            _exit(EXIT_PROTOCOL)
        for job in msg["jobs"]:
            t0 = _monotonic()
            adopt_imports(job)
            if job.get("strict"):
                obs = run_strict(job)
                if _listdir(scratch):  # the child shared our scratch directory
                    clean_scratch()
                _sigmask(signal.SIG_UNBLOCK, ALL_SIGNALS)
            else:
                obs = run_task(job, None)
                bad = integrity()
                if bad >= 0 and bad != 11:
                    _exit(EXIT_POLLUTED + bad)
                if _listdir(scratch):
                    clean_scratch()
                _sigmask(signal.SIG_UNBLOCK, ALL_SIGNALS)
                if bad == 11:
                    # New modules: this task's result stands, but the process state now differs
                    # from a fresh worker's, so retire after reporting.
                    obs["wallMs"] = (_monotonic() - t0) * 1000.0
                    obs["retire"] = "new-modules"
                    send({"t": "result", "r": obs})
                    _exit(EXIT_POLLUTED + 11)
            obs["wallMs"] = (_monotonic() - t0) * 1000.0
            send({"t": "result", "r": obs})


def dict_version_cells():
    """A function giving a live view of a dict's version tag, or None where unavailable.

    CPython 3.11 stamps PyDictObject.ma_version_tag (offset 24) with a fresh global number on
    every mutation of that dict, so one integer per dict tells whether anything in it changed —
    about 20× cheaper than comparing every entry. The layout is verified on a probe dict first;
    ctypes is then dropped from sys.modules, so a task's `import ctypes` is a fresh, denied import
    (and the ctypes classes it might find by walking __subclasses__ raise denied audit events).
    """
    if sys.version_info[:2] != (3, 11):
        return None
    before = set(sys.modules)
    try:
        import ctypes
    except ImportError:
        return None
    try:
        c_uint64 = ctypes.c_uint64
        probe = {}
        tag = c_uint64.from_address(id(probe) + 24)
        used = ctypes.c_ssize_t.from_address(id(probe) + 16)
        v0 = tag.value
        probe["x"] = 1
        v1 = tag.value
        probe["x"] = 2
        v2 = tag.value
        if not (used.value == 1 and v0 != v1 != v2):
            return None
        return lambda d: c_uint64.from_address(id(d) + 24)
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


def _safe_getsignal(s):
    try:
        return signal.getsignal(s)
    except (ValueError, OSError):
        return None


def _remove_tree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        for name in os.listdir(path):
            _remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def _read_startup_frame():
    """The config frame, read from fd 0 before the channel is locked down."""
    os.set_blocking(0, True)
    os.set_blocking(1, True)
    def read_exact(n):
        data = b""
        while len(data) < n:
            chunk = os.read(0, n - len(data))
            if not chunk:
                os._exit(EXIT_PROTOCOL)
            data += chunk
        return data
    n = int.from_bytes(read_exact(4), "big")
    return read_exact(n)


if __name__ == "__main__":
    main()
