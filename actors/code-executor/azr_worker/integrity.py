"""The worker's own state, snapshotted before the first task and checked after every task.

Covers: what a pooled worker must find unchanged after a task — sys.modules and every module's
(and mutable class's) dict, builtins, sys hooks, signal handlers, live threads, descriptors,
cwd, environment, recursion limit, the capture streams — compared by identity only, so no
`__eq__` of an object the task planted ever runs; a dict version-tag fast path (CPython 3.11).
Not: what happens when something changed (the worker exits with EXIT_POLLUTED + k and the
parent re-runs the task in strict mode).
"""
import builtins
import gc
import itertools
import operator
import os
import signal
import sys
import _thread

import _signal


def make_integrity(p_in, p_out, in_id, out_id, scratch, std_streams, signals, sig_handlers, debug):
    """(integrity, refresh_snapshot). Call it last in start-up: the descriptors open now are the
    ones every later check expects. integrity() returns the index into POLLUTION_KINDS of the
    first thing the last task changed, or -1; refresh_snapshot() re-takes the snapshot (after
    trusted imports)."""
    # Captured once: the check uses only these locals, never module globals or builtins lookups
    # the task could have replaced.
    _os_write, _fstat, _listdir, _getcwd, _stat = os.write, os.fstat, os.listdir, os.getcwd, os.stat
    _c_getsignal = _signal.getsignal
    _getrecursionlimit = sys.getrecursionlimit
    _thread_count = _thread._count
    _tuple, _map, _id, _len, _zip, _type, _sorted, _list, _dict = tuple, map, id, len, zip, type, sorted, list, dict
    _getattr = getattr
    sys_mod, builtins_dict, os_environ = sys, builtins.__dict__, os.environ
    cap_in, cap_out, cap_err = std_streams
    _chain, _values_of = itertools.chain.from_iterable, operator.methodcaller("values")
    env_data = os_environ._data  # the bytes dict behind os.environ (putenv itself is denied)
    _is, _all, _sum = operator.is_, all, sum
    _get_referents = gc.get_referents
    _type_flags, _type_dict = type.__dict__["__flags__"].__get__, type.__dict__["__dict__"].__get__
    TYPE_SUBCLASS, HEAPTYPE = 1 << 31, 1 << 9  # Py_TPFLAGS_TYPE_SUBCLASS, Py_TPFLAGS_HEAPTYPE

    def module_dicts():
        """Every module's dict and every heap class's, each once. A class is found in every module
        that imports it (typing's Generic in dozens): taken once per class, the list checked after
        each task is shorter (~550 dicts in a pooled worker) and checks no less: a dict listed
        twice can only be found changed twice."""
        out, seen = [], set()
        for m in _list(sys_mod.modules.values()):
            d = _getattr(m, "__dict__", None)
            if _type(d) is _dict and _id(d) not in seen:
                seen.add(_id(d))
                out.append(d)
                for v in _list(d.values()):
                    # Every class, whatever its metaclass (ABCMeta, EnumType, sympy's): a patched
                    # collections.abc.Mapping.get outlives its task as surely as a patched module.
                    # Heap types are the mutable ones. Read through type's own descriptors, so no
                    # metaclass attribute hook runs.
                    if _type_flags(_type(v)) & TYPE_SUBCLASS and _type_flags(v) & HEAPTYPE and _id(v) not in seen:
                        seen.add(_id(v))
                        out.append(_type_dict(v))
        return out

    def sys_state():
        return (sys_mod.gettrace(), sys_mod.getprofile(), sys_mod.excepthook, sys_mod.displayhook,
                sys_mod.breakpointhook, sys_mod.unraisablehook, sys_mod.modules,
                sys_mod.flags, builtins_dict, os_environ)

    def sys_lists():
        """The hook and path lists as their members' ids (the snapshot also keeps the members
        themselves alive, so an id cannot be reused by a new object while it is compared)."""
        lists = (_tuple(sys_mod.meta_path), _tuple(sys_mod.path_hooks), _tuple(sys_mod.path))
        return lists, _tuple([_tuple(_map(_id, x)) for x in lists])

    def same_entries(dicts, keys, values, total):
        """Every key and value of every dict is the very object snapshotted (C-level passes;
        identity only, so no __eq__ of a planted object ever runs)."""
        return (_sum(_map(_len, dicts)) == total and _all(_map(_is, _chain(dicts), keys))
                and _all(_map(_is, _chain(_map(_values_of, dicts)), values)))

    version_cell = dict_version_cells()
    # All tags gathered as one bytes string: b"".join copies each 8-byte view at C speed with no
    # int object per dict, then one memcmp — 2–2.5× cheaper than reading each cell's .value (~15 us
    # for a pooled worker's ~550 dicts; sympy's would add ~1,900, which is why it loads only in the
    # zygote: policy.LARGE_MODULES).
    _join_tags, _memoryview = b"".join, memoryview

    def tag_reader(real_dicts):
        """() -> the version tag of every dict, 8 bytes each in list order; None without tags."""
        if not version_cell:
            return None
        cells = [_memoryview(version_cell(d)) for d in real_dicts]

        def join():
            return _join_tags(cells)
        return join

    def env_ids():
        return (_tuple(_map(_id, env_data)), _tuple(_map(_id, env_data.values())))

    def snapshot():
        dicts = module_dicts()
        keys, values = _tuple(_chain(dicts)), _tuple(_chain(_map(_values_of, dicts)))
        cells = tag_reader([d if _type(d) is _dict else _get_referents(d)[0] for d in dicts])  # a mappingproxy's dict
        versions = [cells() if cells else None]
        # sys.modules and the environment are dicts too: while their version tags stand still,
        # their entries are the snapshotted objects and the per-entry id comparisons are skipped.
        modules, tagged = sys_mod.modules, [None, None]
        if version_cell:
            tagged = [(modules, version_cell(modules)), (env_data, version_cell(env_data))]
        tags = [c.value if c else None for c in (t and t[1] for t in tagged)]
        return (dicts, keys, values, _len(keys), _tuple(_map(_id, modules)), _tuple(_map(_id, modules.values())),
                sys_state(), sys_lists(), env_ids(), _getrecursionlimit(), cells, versions, tagged, tags)

    def untouched(tagged, tags, k):
        """Whether dict k (0: sys.modules, 1: the environment) is the snapshotted object and has
        not been mutated since (False also where version tags are unavailable)."""
        t = tagged[k]
        return t is not None and (sys_mod.modules if k == 0 else os_environ._data) is t[0] and t[1].value == tags[k]

    snap = [None]

    def refresh_snapshot():
        snap[0] = snapshot()

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
        dicts, keys, values, total, mod_names, mod_ids, sys_st, sys_ls, env, rec, cells, versions, tagged, tags = snap[0]
        # /proc/self/task's link count is 2 + the number of threads: one stat, not a listing.
        if _thread_count() or _stat("/proc/self/task").st_nlink != 3:
            return 2
        new = -1
        if not untouched(tagged, tags, 0):
            # ids, never ==: a planted key with its own __eq__ must not run here.
            names_now = _tuple(_map(_id, sys_mod.modules))
            if names_now != mod_names:
                if _len(names_now) > _len(mod_names) and names_now[:_len(mod_names)] == mod_names:
                    new = 11
                else:
                    return 0
            if _tuple(_map(_id, _list(sys_mod.modules.values())[:_len(mod_names)])) != mod_ids:
                return 0
            if new < 0 and tagged[0] is not None and sys_mod.modules is tagged[0][0]:
                tags[0] = tagged[0][1].value  # mutated, but every entry is the same object
        # Identity only (C-level passes): no __eq__ of a planted hook runs here.
        if not _all(_map(_is, sys_state(), sys_st)) or sys_lists()[1] != sys_ls[1]:
            return 7
        # Fast path: no snapshotted dict was mutated at all (one version tag per dict).
        unchanged = cells is not None and cells() == versions[0]
        if debug and not unchanged and cells is not None:
            now = cells()
            _os_write(2, ("versions changed: %s\n" % [dicts[i].get("__name__", dicts[i].get("__qualname__")) for i in range(_len(dicts)) if now[8 * i:8 * i + 8] != versions[0][8 * i:8 * i + 8]][:8]).encode())
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
            versions[0] = cells()  # mutated, but every entry is the same object
        if _tuple(_map(_c_getsignal, signals)) != sig_handlers:
            return 3
        if _sorted(_listdir("/proc/self/fd")) != fds_expected:
            return 4
        if _fstat(p_in).st_ino != in_id[1] or _fstat(p_out).st_ino != out_id[1]:
            return 4
        if _getcwd() != scratch:
            return 5
        if not untouched(tagged, tags, 1):
            if os_environ._data is not env_data or env_ids() != env:
                return 6
            if tagged[1] is not None:
                tags[1] = tagged[1][1].value
        if _getrecursionlimit() != rec:
            return 8
        if cap_in.closed or cap_out.closed or cap_err.closed:
            return 9
        return new

    fds_expected = _sorted(_listdir("/proc/self/fd"))
    refresh_snapshot()
    return integrity, refresh_snapshot


DICT_VERSION_OFFSET = 24  # PyDictObject.ma_version_tag in CPython 3.11 (checked by dict_version_cells)


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
        tag = c_uint64.from_address(id(probe) + DICT_VERSION_OFFSET)
        used = ctypes.c_ssize_t.from_address(id(probe) + 16)
        v0 = tag.value
        probe["x"] = 1
        v1 = tag.value
        probe["x"] = 2
        v2 = tag.value
        if not (used.value == 1 and v0 != v1 != v2):
            return None
        return lambda d: c_uint64.from_address(id(d) + DICT_VERSION_OFFSET)
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


def safe_getsignal(s):
    try:
        return signal.getsignal(s)
    except (ValueError, OSError):
        return None
