"""What the in-process sandbox refuses, and the exit codes the Node side (pool.ts) decodes.

Covers: constants only. The audit hook that applies them is guard.py.
"""
import os

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
    "cpython.PyInterpreterState_Clear", "code.__new__", "function.__new__", "marshal.load", "setopencodehook",
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
# Modules that hand task code raw access to this process's memory without any audit event:
# numpy's __array_interface__ (and as_strided, frombuffer over an address) reads and writes any
# address, cffi's ffi.cast/ffi.buffer likewise (_cffi_backend is what cryptography's bindings and
# others load). In a pooled worker that would defeat the audit hook and the integrity check (a
# task could rewrite the captured references, the snapshot or its own result). So they are never
# loaded in a process that runs tasks in-process: a program whose import lines name one runs in a
# fresh child of a helper process that adopted it (zygote.py); one that reaches such a module any
# other way (__import__, importlib, a library that imports it) is refused inside the pooled task
# window and that task is re-run in a forked child, as strict mode would run it. Libraries that
# import numpy themselves (scipy, pandas, matplotlib, ...) are caught at numpy's own import event.
# Checked on this Python: sympy, mpmath and the rest of ADOPTABLE_MODULES load neither; `array`
# and `struct` only expose buffers with bounds; mmap.__new__ and ctypes.* are denied events.
RAW_MEMORY_MODULES = frozenset(("numpy", "scipy", "cffi", "_cffi_backend"))
# Libraries too large for a process that checks its integrity after every task: sympy (with
# mpmath) brings ~1,900 classes whose dicts that check would then read after every task — 74 us,
# a fifth of a pooled task's CPU (measured on the seed pairs: 0.41 -> 0.29 ms a task without
# them) — while 0.3% of the seed tasks use it. They run where the raw-memory modules run, in a
# child of the zygote, whose fork (~1 ms) only those tasks pay.
LARGE_MODULES = frozenset(("sympy", "mpmath"))
# What loads only in the zygote and its children: never in a process that runs tasks in-process.
ZYGOTE_MODULES = RAW_MEMORY_MODULES | LARGE_MODULES
# Reads that hand out a frame (from which f_back/f_locals reach this module's locals).
FRAME_ATTRS = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"))
# Writes that would change code we run after the task (or a class's ancestry).
# (__defaults__ stays writable: libraries such as sympy set it while importing; our own
# helpers are called through captured references with every argument given.)
SETATTR_DENIED = frozenset(("__code__", "__bases__", "__class__", "__dict__", "__mro__"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Modules trusted code imports on a program's behalf (see running.make_adopt_imports): common
# libraries without import-time side effects.
ADOPTABLE_MODULES = frozenset((
    "numpy", "sympy", "scipy", "statistics", "json", "queue", "base64", "zlib", "secrets", "random",
    "hashlib", "hmac", "datetime", "calendar", "textwrap", "array", "enum", "dataclasses", "numbers",
    "cmath", "pprint", "difflib", "struct", "binascii", "uuid", "timeit", "time", "string", "abc",
    "bisect", "heapq", "itertools", "functools", "collections", "math", "re", "copy", "typing",
    "fractions", "decimal", "operator", "unicodedata", "contextlib", "weakref", "graphlib", "io",
))

# Submodules a library imports lazily the first time a task uses some of its functions: adopted
# with their library, so the zygote's children do not each pay for importing them again (and a
# library adopted in a pooled worker is not found changed by the integrity check, which replaced
# the worker: 3 replacements a pass over the seeds when sympy still ran in-process). Found on the
# seeds (all 17,572 pairs): these were the only lazy imports.
ADOPT_WITH = {
    "sympy": ("sympy.sets.setexpr", "sympy.combinatorics", "sympy.tensor.tensor"),
}
