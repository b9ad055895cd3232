"""The in-process sandbox: resource limits and the PEP 578 audit hook.

Covers: the address-space, core, file-size, descriptor and process limits (reported to the
parent, which refuses to run without them), and the audit hook that, while a task runs, denies
process creation, sockets, ctypes, frame introspection (so the task cannot walk into the
worker's locals), opens of /proc and friends or relative paths, writes outside the scratch
directory, new audit hooks, imports of raw-power modules (and, in-process, of any native code
from outside the standard library), and code objects made from anything but source (unmarshalled
task bytes, code.__new__). Not: the OS sandbox (bubblewrap,
started by the parent) nor the check after the task (integrity.py).
"""
import io
import os
import resource
import sys
import sysconfig

from .policy import (DENIED_EVENTS, DENIED_MODULES, DENIED_PREFIXES, DENIED_WITHOUT_NPROC, FRAME_ATTRS,
                     PROC_OPEN_DENIED, SETATTR_DENIED, WRITE_FLAGS, ZYGOTE_MODULES)


def set_limits(memory_bytes):
    """Set this process's rlimits; returns (limits as reported to the parent, RLIMIT_CPU's hard limit)."""
    _getrlimit, _setrlimit = resource.getrlimit, resource.setrlimit
    _fork, _waitpid = os.fork, os.waitpid
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
    # RLIMIT_NPROC counts this uid's processes; find how many exist by probing with a fork,
    # then allow exactly one more (the strict child) and only while we fork it.
    # The probe child is reaped before we go on: waitpid returns only once the kernel has
    # released it, so it no longer counts. (A probe thread could not be waited for so: it
    # still counted for a while after it ended, and the first strict fork, allowed exactly one
    # process more, then failed with EAGAIN, most often on a busy machine.)
    nproc_count = None
    hard = _getrlimit(resource.RLIMIT_NPROC)[1]
    for k in range(1, 64):
        try:
            _setrlimit(resource.RLIMIT_NPROC, (k, hard))
            pid = _fork()
        except BlockingIOError:
            continue
        if pid == 0:
            os._exit(0)
        _waitpid(pid, 0)
        nproc_count = k - 1 if k > 1 else None  # a limit of 1 cannot admit a child: not enforced
        break
    if nproc_count is not None and nproc_count < 60:
        # Room for three more: the helper (zygote.py), a new child of it or of ours,
        # and the other one's child that already reported but is not reaped yet (strict.py
        # reaps its own before each fork). The soft limit stays at what exists and is opened
        # only around our own forks (strict.py, zygote.py); task code cannot raise it.
        _setrlimit(resource.RLIMIT_NPROC, (nproc_count, nproc_count + 3))
        limits["nproc"] = nproc_count + 3
    else:
        _setrlimit(resource.RLIMIT_NPROC, (hard, hard))
        limits["nproc_error"] = "RLIMIT_NPROC is not enforced for this uid (root?)"
    return limits, cpu_hard


def install_audit_hook(scratch, limits):
    """Install the hook; returns `state`, whose state[0] is True while task code runs, state[1]
    is set when the hook refused a zygote-only module to task code (the task must then be re-run
    by the zygote), and state[2] is True in the zygote and its children, the only processes
    where those modules may load (zygote.py); state[3] holds the marshal bytes of the arguments
    the task window is building (running.py), the only marshal data it may load besides the .pyc
    files of lazy imports. It lives only in the caller's
    frame and the hook's closure, neither reachable from task code (frame access is denied)."""
    state = [False, False, False, None]
    _type, _realpath, _open_code = type, os.path.realpath, io.open_code
    # The last .pyc the task window opened from outside the scratch directory: importlib reads
    # one and unmarshals its body right away (see "marshal.loads" below).
    trusted_pyc = [None]
    _scratch_dir = scratch + "/"
    nproc_enforced = "nproc" in limits

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
            if p.endswith(".pyc") and not writing and not real.startswith(_scratch_dir):
                trusted_pyc[0] = real
            return
        if event == "marshal.loads":
            # Unmarshalled data may hold code objects, and CPython never checks bytecode: one
            # built from the task's bytes (LOAD_CONST/LOAD_FAST past their tuples) reads and
            # writes any address, and could rewrite this worker. So inside the task window only
            # the arguments' bytes (state[3], made by static.parse_call from literals) and the
            # body of a .pyc that importlib just read from outside the writable scratch directory
            # (a module imported lazily) are unmarshalled. args[0] is a fresh exact bytes copy
            # ("y#"), so == runs no task code.
            data = args[0]
            if data == state[3]:
                return
            path, trusted_pyc[0] = trusted_pyc[0], None
            if path is not None:
                with _open_code(path) as fh:
                    if fh.read()[16:] == data:
                        return
            raise PermissionError("sandbox: marshal.loads denied (task code may not unmarshal data: a code object in it would run unchecked bytecode)")
        if event in ("os.remove", "os.rmdir", "os.mkdir"):
            p = args[0]
            if _type(p) is not str or not _realpath(p).startswith(scratch + "/"):
                raise PermissionError("sandbox: %s outside the scratch directory denied" % event)
            return
        if event == "import":
            name = args[0]
            # str.split unbound: a str subclass's name neither escapes the check nor runs its code.
            top = _str_split(name, ".")[0] if _isinstance(name, str) else ""
            if top in DENIED_MODULES or (top in DENIED_WITHOUT_NPROC and not nproc_enforced):
                raise PermissionError("sandbox: import of %s denied" % name)
            # args[1] is the file of an extension module (the event fires in _imp.create_dynamic
            # too, so importlib's Python-level import path cannot skip it). A native library from
            # the writable scratch directory would be arbitrary machine code: never, in any mode.
            filename = args[1] if _len(args) > 1 else None
            if filename is not None:
                if _type(filename) is not str:
                    raise PermissionError("sandbox: import from a %s path denied" % _type(filename).__name__)
                real = _realpath(filename)
                if real.startswith(_scratch_dir):
                    raise PermissionError("sandbox: loading native code from the scratch directory denied")
                # Checked by file as well as by name: an extension can be loaded under another
                # module name (its init symbol fixes only the last component: 'x._testcapi'), but
                # its file still is _testcapi*.so.
                parts = _str_split(real, "/")
                for n in parts[:-1] + [_str_split(parts[-1], ".")[0]]:
                    if n in DENIED_MODULES or (n in DENIED_WITHOUT_NPROC and not nproc_enforced):
                        raise PermissionError("sandbox: import of %s denied" % n)
                # Native code from outside the standard library (numpy's, and whatever else the
                # image installed: Pillow, torch, yaml, ...) has not been reviewed for raw memory
                # access without audit events, as numpy was found to have; so none of it loads
                # where tasks run in-process: such a task is re-run in a child of the zygote, and
                # what it does to memory dies with that child.
                if not state[2] and _dirname(real) not in stdlib_native:
                    state[1] = True
                    raise PermissionError("sandbox: %s is native code from outside the standard library: it loads only in a fresh process" % name)
            if not state[2] and top in ZYGOTE_MODULES:
                state[1] = True
                raise PermissionError("sandbox: %s loads only in a fresh process (policy.ZYGOTE_MODULES)" % name)
            return
        if event == "object.__getattr__":
            if args[1] in FRAME_ATTRS:
                raise PermissionError("sandbox: access to %s denied" % args[1])
        elif event == "object.__setattr__" or event == "object.__delattr__":
            if args[1] in SETATTR_DENIED:
                raise PermissionError("sandbox: changing %s denied" % args[1])

    _len, _isinstance, _str_split, _dirname = len, isinstance, str.split, os.path.dirname
    # Where the standard library's extension modules live (Debian: /usr/lib/python3.11/lib-dynload);
    # unknown → every extension counts as foreign (they all go to the zygote's children).
    destshared = sysconfig.get_config_var("DESTSHARED")
    stdlib_native = frozenset((_realpath(destshared),)) if _type(destshared) is str else frozenset()
    sys.addaudithook(audit)
    return state
