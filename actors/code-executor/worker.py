"""azr code-executor worker: runs model-written Python under Absolute Zero's rules (azr-spec §5).

The parent (worker-process.ts) starts this file inside bubblewrap and talks to it over fds 0/1;
this file wires the modules of azr_worker/ together in start-up order and serves requests:

  channel    the pipe protocol, kept out of the task's reach (O_PATH descriptors)
  guard      resource limits and the PEP 578 audit hook
  static     parsing-only checks: syntax, banned imports, literal arguments, `f` arity
  running    one task in this process (the task window), trusted imports before it
  integrity  the snapshot of this process and the check after every pooled task
  strict     one task in a forked child, killed on the wall clock
  zygote     the helper that alone loads numpy, sympy & co (policy.ZYGOTE_MODULES), a child per such job

Not: verdicts. This process may have run hostile code, so it only reports observations (repr
text, exception names, exit codes); the trusted Node side parses the literals and decides
(azr-spec §5.2). A pooled task that leaves anything behind (threads, signal handlers, patched
modules, changed cwd/env/fds) is found by the integrity check before the channel is re-opened;
the worker then exits with a code that names the pollution (EXIT_POLLUTED + k) without writing
anything, and the parent re-runs the task in strict mode.
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

import _signal

from azr_worker.channel import lock_channel, make_channel, read_startup_frame
from azr_worker.guard import install_audit_hook, set_limits
from azr_worker.integrity import make_integrity, safe_getsignal
from azr_worker.policy import ADOPTABLE_MODULES, EXIT_POLLUTED, EXIT_PROTOCOL, ZYGOTE_MODULES
from azr_worker.running import make_adopt_imports, make_run_task, make_tidy_scratch
from azr_worker.strict import make_run_strict
from azr_worker.zygote import make_run_raw, make_zygote_fds


def main():
    debug = bool(os.environ.get("AZR_WORKER_STDERR"))
    cfg = read_startup_frame()
    scratch = cfg.get("scratch", "/tmp/scratch")
    memory_bytes = int(cfg.get("memoryMB", 1024)) << 20
    stdout_cap = int(cfg.get("stdoutCap", 8192))
    os.makedirs(scratch, exist_ok=True)
    os.chdir(scratch)

    p_in, p_out, in_id, out_id = lock_channel()
    limits, cpu_hard = set_limits(memory_bytes)  # the parent refuses to run without them; it reads what we report
    state = install_audit_hook(scratch, limits)

    # One set of capture streams for the worker's life: re-assigning sys.stdout per task would
    # mutate sys's dict every time and defeat the one-version-tag-per-dict integrity check.
    std_streams = (io.StringIO(""), io.StringIO(), io.StringIO())
    sys.stdin, sys.stdout, sys.stderr = std_streams
    signals = [s for s in range(1, signal.NSIG) if s not in (signal.SIGKILL, signal.SIGSTOP) and safe_getsignal(s) is not None]
    sig_handlers = tuple(map(_signal.getsignal, signals))
    all_signals = signal.valid_signals()

    send, recv = make_channel(p_in, p_out)
    prepare, run_prepared, run_task = make_run_task(state, stdout_cap, cpu_hard, std_streams, signals, sig_handlers, all_signals)
    helpers, raw_ok = [0], [False]
    close_in_child = [p_in, p_out]
    run_strict, reap_children, forget_children = make_run_strict(prepare, run_prepared, limits, close_in_child, state, debug, helpers)
    tidy_scratch = make_tidy_scratch(scratch)
    zygote_fds = make_zygote_fds()  # before the integrity snapshot: the fd set stays as it is

    if not debug:  # debugging aid: AZR_WORKER_STDERR keeps stderr to the parent
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 2)
        os.close(null)
    integrity, refresh_snapshot = make_integrity(p_in, p_out, in_id, out_id, scratch, std_streams, signals, sig_handlers, debug)
    adopt_imports = make_adopt_imports(refresh_snapshot, raw_ok)
    _exit, _sigmask = os._exit, _signal.pthread_sigmask

    def serve_zygote(z_recv, z_send):
        """The zygote's loop (zygote.py): every job adopted here and run in a forked child. The
        zygote-only libraries are adopted first, whatever the job names, so a task that reaches
        numpy through __import__ or importlib finds it loaded, as one that names it does: the
        verdict depends on neither the route nor the jobs before it."""
        adopt_imports({"code": "\n".join("import " + m for m in sorted(ZYGOTE_MODULES & ADOPTABLE_MODULES))})
        while True:
            msg = z_recv()
            if msg is None:
                _exit(0)
            for job in msg["jobs"]:
                adopt_imports(job)
                obs = run_strict(job)
                _sigmask(signal.SIG_UNBLOCK, all_signals)
                if not z_send({"t": "result", "r": obs}):
                    _exit(0)

    run_raw = make_run_raw(zygote_fds, close_in_child, limits, helpers, state, raw_ok, reap_children, forget_children, serve_zygote)
    gc.disable()  # collections happen only at our chosen points (after each task)
    # Everything loaded so far lives for the worker's life: freeze it out of the collector, so a
    # strict child's collection after its task does not walk (and copy-on-write fault) the heap.
    gc.collect()
    gc.freeze()
    send({"t": "ready", "pid": os.getpid(), "uid": os.getuid(), "limits": limits,
          "python": sys.version.split()[0], "hashSeed": os.environ.get("PYTHONHASHSEED")})
    try:
        serve(recv, send, run_task, run_strict, run_raw, integrity, tidy_scratch, all_signals, adopt_imports, state)
    except BaseException:
        state[0] = False  # our own failure, not the task's: let traceback read frames
        if debug:
            os.write(2, traceback.format_exc().encode())
        try:
            send({"t": "fatal", "why": traceback.format_exc()[-4000:]})
        finally:
            os._exit(EXIT_PROTOCOL)


def serve(recv, send, run_task, run_strict, run_raw, integrity, tidy_scratch, all_signals, adopt_imports, state):
    """The request loop: jobs in, one result frame per job out.

    A job whose import lines name a zygote-only module (policy.ZYGOTE_MODULES) runs in a child
    of the zygote, in either mode; one that reaches such a module any other way, in-process or in
    a strict child of ours, is refused it by the audit hook (state[1]) and, once this process is
    known clean, run again in a child of the zygote. Either way nothing it does to memory outlives
    its process, and both modes give the same verdict."""
    _exit, _monotonic, _sigmask = os._exit, time.monotonic, _signal.pthread_sigmask
    while True:
        msg = recv()
        if msg is None or msg.get("t") == "exit":
            _exit(0)
        if msg.get("t") != "jobs":
            send({"t": "fatal", "why": "unknown message %r" % (msg.get("t"),)})
            _exit(EXIT_PROTOCOL)
        for job in msg["jobs"]:
            t0 = _monotonic()
            if adopt_imports(job):
                obs = run_raw(job)
                tidy_scratch()
                _sigmask(signal.SIG_UNBLOCK, all_signals)
            elif job.get("strict"):
                obs = run_strict(job)
                if obs.get("rerun") == "raw":
                    obs = run_raw(job)
                tidy_scratch()  # the child shared our scratch directory
                _sigmask(signal.SIG_UNBLOCK, all_signals)
            else:
                state[1] = False
                obs = run_task(job)
                bad = integrity()
                if bad >= 0 and bad != 11:
                    _exit(EXIT_POLLUTED + bad)
                tidy_scratch()
                _sigmask(signal.SIG_UNBLOCK, all_signals)
                if state[1]:  # the hook refused it a zygote-only module: its in-process run does not count
                    state[1] = False
                    obs = run_raw(job)
                    tidy_scratch()
                    _sigmask(signal.SIG_UNBLOCK, all_signals)
                if bad == 11:
                    # New modules: this task's result stands, but the process state now differs
                    # from a fresh worker's, so retire after reporting.
                    obs["wallMs"] = (_monotonic() - t0) * 1000.0
                    obs["retire"] = "new-modules"
                    send({"t": "result", "r": obs})
                    _exit(EXIT_POLLUTED + 11)
            obs["wallMs"] = (_monotonic() - t0) * 1000.0
            send({"t": "result", "r": obs})


if __name__ == "__main__":
    main()
