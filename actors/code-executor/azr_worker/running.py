"""One task in this process: the task window, and the trusted imports before it.

Covers: the static checks and argument builders (cached per worker: the same program runs on many
inputs), the fresh namespace, `f` called `runs` times on freshly built arguments, the capped repr
of each literal result, stdout/stderr capture, the CPU limit per task, and putting back what a
task may leave behind before trusted code goes on (signal handlers, timers, std streams); the
allowlisted imports done as trusted code before a task (make_adopt_imports) and emptying the
scratch directory after it (make_tidy_scratch). Not: the verdict (the Node side) nor the integrity check
(integrity.py), which decides whether this process may run another task.

`state[0]` (guard.py) brackets the task window: everything inside it may be hostile, everything
after it is ours — and uses only references captured here before any task ran.
"""
import ast
import builtins
import gc
import marshal
import operator
import os
import re
import resource
import signal
import sys
import _thread

import _signal

from .policy import ADOPT_WITH, ADOPTABLE_MODULES, CACHE_SIZE, EXIT_POLLUTED, ZYGOTE_MODULES
from .static import NotLiteral, arity_error, find_banned, literal_kind, may_hit_banned, parse_call

IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))", re.M)


def make_adopt_imports(refresh_snapshot, raw_ok):
    """adopt_imports(job) -> whether the job's import lines name a zygote-only module. Those are
    adopted only where raw_ok[0] is True (the zygote, which never runs a task in-process); a
    worker that runs tasks in-process never loads them (policy.ZYGOTE_MODULES)."""
    sys_mod = sys
    _gc_collect, _gc_freeze = gc.collect, gc.freeze

    def adopt_imports(job):
        """Import, as trusted code, the allowlisted modules the program's import lines name.

        Libraries such as sympy inspect frames while importing, which the task window forbids;
        importing them here (then re-taking the integrity snapshot) makes the verdict depend on
        the program text only, never on what earlier tasks left loaded."""
        text = (job.get("prelude") or "") + "\n" + job["code"]
        if "import" not in text:
            return False
        names = set()
        for m in IMPORT_LINE.finditer(text):
            if m.group(1):
                names.add(m.group(1).split(".")[0])
            else:
                names.update(part.strip().split(".")[0] for part in m.group(2).split(","))
        raw = not names.isdisjoint(ZYGOTE_MODULES)
        if raw and not raw_ok[0]:
            return True  # run in the zygote's child; nothing of this job is adopted here
        new = [n for n in sorted(names) if n in ADOPTABLE_MODULES and n not in sys_mod.modules]
        if new:
            for n in new:
                for m in (n,) + ADOPT_WITH.get(n, ()):
                    try:
                        __import__(m)
                    except Exception:
                        pass
            refresh_snapshot()
            # A library import allocates ~10^5 objects that live for the worker's life. Left in
            # the youngest generation, each strict child's collection after its task would walk
            # all of them, touching every page the fork shared (measured: 5 ms -> 100 ms a task
            # after `import sympy`). Frozen, the collector never looks at them again.
            _gc_collect()
            _gc_freeze()
        return raw

    return adopt_imports


def make_tidy_scratch(scratch):
    """tidy_scratch(): empty the scratch directory if the last task left anything in it.

    Asked after every task, so the question "is it empty?" is made cheap where it can be: on tmpfs
    (the sandbox's /tmp) a directory's size is 20 bytes per entry over a constant, so one stat
    (~3 us here) answers it where a listing costs ~9 us. Probed once here with a file of our
    own; anywhere else (ext4 keeps 4,096) the listing is used."""
    _listdir, _stat = os.listdir, os.stat
    empty_size = None
    try:
        if not _listdir(scratch):
            s0 = _stat(scratch).st_size
            probe = scratch + "/.azr-size-probe"
            os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            s1 = _stat(scratch).st_size
            os.remove(probe)
            if s1 - s0 == 20 and _stat(scratch).st_size == s0:
                empty_size = s0
    except OSError:
        pass  # the listing, below

    def clean():
        for name in _listdir(scratch):
            _remove_tree(scratch + "/" + name)

    if empty_size is not None:
        def tidy_scratch():
            if _stat(scratch).st_size != empty_size:
                clean()
    else:
        def tidy_scratch():
            if _listdir(scratch):
                clean()
    return tidy_scratch


def make_run_task(state, stdout_cap, cpu_hard, std_streams, signals, sig_handlers, all_signals):
    """(prepare, run_prepared, run_task): run_task(job) -> the observation dict of one job run in
    this process; prepare(job) and run_prepared(job, prepared) are its two halves (strict mode
    runs the first in the parent and the second in the forked child)."""
    _exit, _stat = os._exit, os.stat
    _setrlimit, _getrusage = resource.setrlimit, resource.getrusage
    _sig_signal, _alarm, _setitimer = signal.signal, signal.alarm, signal.setitimer
    _c_getsignal, _c_sigmask = _signal.getsignal, _signal.pthread_sigmask
    _gc_collect = gc.collect
    _thread_count = _thread._count
    _tuple, _len, _type, _zip, _all, _map, _is = tuple, len, type, zip, all, map, operator.is_
    _repr, _str_encode = repr, str.encode
    _literal_kind, _find_banned, _parse_call, _arity_error = literal_kind, find_banned, parse_call, arity_error
    _may_hit = may_hit_banned
    _BaseException, _MemoryError, _SyntaxError, _NotLiteral = BaseException, MemoryError, SyntaxError, NotLiteral
    _compile, _exec, _callable, _eval, _loads, _bytes = compile, exec, callable, eval, marshal.loads, bytes
    _object, _range = object, range
    literal_globals = {"__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "set": set}
    _ast_parse = ast.parse
    sys_mod = sys
    cap_in, cap_out, cap_err = std_streams
    ALL_SIGNALS = all_signals

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

    def prepare(job):
        """The trusted, parsing-only part of a job: ("done", obs) when the job ends here (syntax
        error, banned import, bad input), else ("run", (code object, argument builders, prelude)).
        Cached by text: the same program is run on many inputs (induction, abduction checks) and
        the same inputs recur. Strict mode calls it in the warm parent before forking, so the
        cache serves every child and no child pays for compiling in copy-on-write memory."""
        code_text = job["code"]
        calls = job.get("calls") or []
        banned = job.get("banned") or []
        static = static_check(code_text, banned)
        if static[0] != "ok":
            obs = {"id": job["id"], "stage": static[0]}
            obs.update(static[1])
            return ("done", obs)
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
                return ("done", {"id": job["id"], "stage": "input", "error": parsed[1]})
            parsed_calls.append(parsed[1])
        prelude_obj = None
        prelude = job.get("prelude") or ""
        if prelude:
            try:
                prelude_obj = _compile(prelude, "<imports>", "exec")
            except (_SyntaxError, ValueError) as e:
                return ("done", {"id": job["id"], "stage": "syntax",
                                 "error": {"type": "SyntaxError", "message": "in the import lines: %s" % (e,)}})
        return ("run", (code_obj, parsed_calls, prelude_obj))

    def run_task(job):
        """Run one job in this process; return its observation dict."""
        prepared = prepare(job)
        return prepared[1] if prepared[0] == "done" else run_prepared(job, prepared[1])

    def run_prepared(job, prepared):
        """Run a prepared job in this process; return its observation dict. `state[0]` brackets
        the task window; everything inside it may be hostile, everything after it is ours."""
        code_obj, parsed_calls, prelude_obj = prepared
        runs = int(job.get("runs", 2))
        max_chars = int(job.get("maxOutputChars", 400))
        obs = {"id": job["id"]}
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
                        if _type(builder) is _bytes:
                            state[3] = builder  # the only marshal bytes the hook lets the window load
                        pad = []
                        for _r in range(runs):
                            if _r:
                                # Hold a few blocks of every small size class: the allocator's freed blocks
                                # move, so an address the call reads (id(), hash(object())) differs from the
                                # last call's instead of landing in the block that call freed.
                                pad.append([_object() for _i in _range(4)] + [_bytes(_n) for _n in _range(0, 504, 8)])
                            args, kwargs = _loads(builder) if _type(builder) is _bytes else _eval(builder, literal_globals)
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
                        del pad
                        outputs.append(reprs)
            except _MemoryError:
                stage = "memory"
            except _BaseException as e:
                stage = "error"
                # The type's name first, on its own: an exception whose __str__ raises still has
                # its own type (the error task's gold answer), not "Exception".
                try:
                    name = _type(e).__name__
                    name = _str_encode(name if _type(name) is str else "Exception", "utf-8", "replace")
                except _BaseException:
                    name = b"Exception"
                try:
                    err = (name, _str_encode(str(e)[:300], "utf-8", "replace"))
                except _BaseException:
                    err = (name, b"<unprintable exception>")
            out_text = out_io.getvalue() if not out_io.closed else ""
            err_text = err_io.getvalue() if not err_io.closed else ""
        except _BaseException:  # e.g. an exception whose __str__ raises BaseException again
            stage = "error"
            err = (b"BaseException", b"<escaped while reporting>")
            out_text = err_text = ""
        # ------------------------------------------------ end of the task window
        # A thread the task left behind could act once `state` is cleared: leave first.
        # (/proc/self/task's link count is 2 + the number of threads: one stat, not a listing.)
        if _thread_count() or _stat("/proc/self/task").st_nlink != 3:
            _exit(EXIT_POLLUTED + 2)
        # (sys.settrace / sys.setprofile are denied to the task, so no tracer runs our code.)
        _c_sigmask(signal.SIG_BLOCK, ALL_SIGNALS)
        _alarm(0)
        _setitimer(signal.ITIMER_REAL, 0)
        _setitimer(signal.ITIMER_VIRTUAL, 0)
        _setitimer(signal.ITIMER_PROF, 0)
        # Almost every task leaves every handler alone: one C-level identity pass (no __eq__ of
        # a planted handler runs) before the per-signal loop that puts changed ones back.
        try:
            handlers_kept = _all(_map(_is, _map(_c_getsignal, signals), sig_handlers))
        except (OSError, ValueError, TypeError):
            handlers_kept = False
        if not handlers_kept:
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
        # Only what a task printed: three fewer keys to pack and decode per result otherwise.
        if _type(out_text) is str and out_text:
            obs["stdout"] = _str_encode(out_text[:stdout_cap], "utf-8", "replace")
            obs["stdoutLen"] = _len(out_text)
        if _type(err_text) is str and err_text:
            obs["stderr"] = _str_encode(err_text[:stdout_cap], "utf-8", "replace")
        return obs

    return prepare, run_prepared, run_task


def _remove_tree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        for name in os.listdir(path):
            _remove_tree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)
