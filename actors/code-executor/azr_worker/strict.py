"""One task in a forked child (`strict` mode, and the re-run of a task that polluted a pooled
worker): the child runs the task window (running.py) and reports through its own pipe; this
parent enforces the wall clock by SIGKILL, never by trusting a handler inside the child.

Covers: RLIMIT_NPROC opened by exactly one process while forking (and closed to zero in the
child), the length-prefixed result read until whole, exit codes mapped to stages (timeout,
memory, threads, crash), and reaping children that already delivered before the next fork.
"""
import os
import resource
import select
import signal
import time
import traceback

import msgpack

from .policy import EXIT_POLLUTED, EXIT_PROTOCOL


def make_run_strict(prepare, run_prepared, limits, close_in_child, state, debug, helpers):
    """run_strict(job) -> the observation of the job run in a fresh child forked from this warm process.
    helpers[0]: 1 while the zygote lives (and in the zygote itself): the fork then also makes room
    for the zygote and for the other process's reported but unreaped child.
    close_in_child: the descriptors the child closes before anything else (Node's channel; in the
    zygote also its pipes to the worker)."""
    _os_open, _os_close, _os_read, _os_write = os.open, os.close, os.read, os.write
    _fork, _waitpid, _kill, _exit, _pipe = os.fork, os.waitpid, os.kill, os._exit, os.pipe
    _packb, _unpackb = msgpack.packb, msgpack.unpackb
    _setrlimit = resource.setrlimit
    _select = select.select
    _monotonic = time.monotonic
    _len, _type, _dict, _MemoryError = len, type, dict, MemoryError

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
        prepared = prepare(job)  # parsing only, trusted: a job that ends here needs no child
        if prepared[0] == "done":
            return prepared[1]
        prepared = prepared[1]
        reap()
        r, w = _pipe()
        if "nproc" in limits:  # hard limit: start-up count + 3 (guard.set_limits)
            _setrlimit(resource.RLIMIT_NPROC, (limits["nproc"] - 2 + 2 * helpers[0], limits["nproc"]))
        try:
            pid = _fork()
        finally:
            if "nproc" in limits:
                _setrlimit(resource.RLIMIT_NPROC, (limits["nproc"] - 3, limits["nproc"]))
        if pid == 0:
            try:
                _os_close(r)
                for fd in close_in_child:
                    _os_close(fd)
                wp = _os_open("/proc/self/fd/%d" % w, os.O_PATH | os.O_CLOEXEC)
                _os_close(w)
                if "nproc" in limits:
                    _setrlimit(resource.RLIMIT_NPROC, (0, 0))
                obs = run_prepared(job, prepared)
                if state[1]:
                    # The hook refused the task a zygote-only module (only the zygote's children
                    # may load one): the worker runs it again there, with those adopted, so the
                    # verdict does not depend on which process forked the child.
                    obs = {"id": job["id"], "rerun": "raw"}
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

    return run_strict, reap, unreaped.clear
