"""The helper ("zygote"): a child of the worker that adopts numpy, sympy and the rest of
policy.ZYGOTE_MODULES and runs every job whose import lines name one in a fresh child of its
own. The raw-memory ones let task code read and write any address with no audit event, so they
must never load in a process that runs tasks in-process (the pooled worker): whatever a task does
to memory has to die with its process; the large ones would make the pooled worker's integrity
check read ~1,900 more class dicts after every task. The zygote itself never runs task code; it is to such jobs
what the worker is to strict ones (a warm parent that forks), and it pays numpy's import once
instead of once per task (~0.1-0.5 s here, against a fork's few ms).

Covers: its two pipes (made at worker start-up, so the worker's descriptor set, which the
integrity check compares, never changes; held as O_PATH descriptors and re-opened through
/proc/self/fd per frame, like the Node channel, so a pooled task cannot write a job or a result
into them), starting it on the first such job, one job out and one result back, and the zygote
leaving when the worker is gone (it polls getppid: without bubblewrap's pid namespace nothing
else would end it). Not: running the task (strict.py, in the zygote's children).
"""
import errno
import os
import select
import time

import msgpack

from .policy import EXIT_PROTOCOL


def make_zygote_fds():
    """Two pipes (jobs: worker -> zygote, results: zygote -> worker) as four O_PATH descriptors:
    (jobs_r, jobs_w, results_r, results_w). Called before the integrity snapshot."""
    fds = []
    for _ in range(2):
        r, w = os.pipe()
        fds.append(os.open("/proc/self/fd/%d" % r, os.O_PATH | os.O_CLOEXEC))
        fds.append(os.open("/proc/self/fd/%d" % w, os.O_PATH | os.O_CLOEXEC))
        os.close(r)
        os.close(w)
    return tuple(fds)


def _has_frame(buf):
    b = buf[0]
    return len(b) >= 4 and len(b) >= 4 + int.from_bytes(b[:4], "big")


def _take_frame(buf):
    """The first whole length-prefixed msgpack frame of buf[0] (_has_frame said there is one)."""
    b = buf[0]
    n = int.from_bytes(b[:4], "big")
    buf[0] = b[4 + n:]
    return msgpack.unpackb(b[4:4 + n], raw=False)


def _read_frame(fd, buf, alive, read, select_, sleep):
    """The next frame from non-blocking fd (buf[0] keeps what follows it), or None once alive()
    says the other side is gone; asked every half second, and on end-of-file (no writer: the
    zygote is gone, or has not opened its end yet — the zygote itself holds the write end of its
    jobs pipe, so it never sees one). read/select_/sleep: the caller's captured references."""
    while True:
        if _has_frame(buf):
            return _take_frame(buf)
        if not select_([fd], [], [], 0.5)[0]:
            if not alive():
                return None
            continue
        try:
            chunk = read(fd, 1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            if not alive():
                return None
            sleep(0.0005)
            continue
        buf[0] += chunk


def make_worker_frames(jobs_w, results_r, alive):
    """The worker's (send, recv): each frame re-opens its end through /proc/self/fd, never
    blocking (the zygote holds both ends of both pipes, so an open succeeds while it lives and
    a reader sees no end-of-file between frames); alive() is asked every half second."""
    _os_open, _os_close, _os_read, _os_write = os.open, os.close, os.read, os.write
    _select, _sleep, _set_blocking = select.select, time.sleep, os.set_blocking
    _packb, _len = msgpack.packb, len
    O_RDONLY, O_WRONLY, O_NONBLOCK, O_CLOEXEC = os.O_RDONLY, os.O_WRONLY, os.O_NONBLOCK, os.O_CLOEXEC
    wpath, rpath = "/proc/self/fd/%d" % jobs_w, "/proc/self/fd/%d" % results_r
    buf = [b""]

    def send(msg):
        """False when the zygote is gone."""
        data = _packb(msg, use_bin_type=True)
        frame = _len(data).to_bytes(4, "big") + data
        waited = 0
        while True:
            # Until the just-started zygote has opened its ends, an open here may fail (ENXIO)
            # or succeed on a pipe without a reader (the first write fails, EPIPE): wait and retry.
            w = -1
            sent = 0
            try:
                w = _os_open(wpath, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                _set_blocking(w, True)
                while sent < _len(frame):
                    sent += _os_write(w, frame[sent:])
                return True
            except OSError as e:
                if sent or e.errno not in (errno.ENXIO, errno.EPIPE):
                    return False
            finally:
                if w >= 0:
                    _os_close(w)
            _sleep(0.0002)
            waited += 1
            if waited % 2500 == 0 and not alive():
                return False

    def recv():
        """The next frame, or None when the zygote is gone."""
        r = _os_open(rpath, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        try:
            return _read_frame(r, buf, alive, _os_read, _select, _sleep)
        finally:
            _os_close(r)

    return send, recv


def make_zygote_frames(jobs_r, jobs_w, results_r, results_w, alive):
    """The zygote's (send, recv) over real descriptors of both ends of both pipes (it runs no
    task code; its children close them): holding the jobs pipe's write end means no end-of-file
    between the worker's frames, holding the results pipe's read end means its writes never fail
    before the worker reads. Every wait asks alive() each half second."""
    _os_read, _os_write, _select, _sleep, _len = os.read, os.write, select.select, time.sleep, len
    _packb = msgpack.packb
    buf = [b""]

    def send(msg):
        data = _packb(msg, use_bin_type=True)
        frame = _len(data).to_bytes(4, "big") + data
        while frame:
            try:
                n = _os_write(results_w, frame)
                frame = frame[n:]
            except BlockingIOError:
                if not _select([], [results_w], [], 0.5)[1] and not alive():
                    return False
        return True

    def recv():
        return _read_frame(jobs_r, buf, alive, _os_read, _select, _sleep)

    return send, recv


def make_run_raw(fds, close_in_child, limits, helpers, state, raw_ok, reap_children, forget_children, serve_zygote):
    """run_raw(job) -> the job's observation, run by the zygote (started here on first use)."""
    jobs_r, jobs_w, results_r, results_w = fds
    _fork, _waitpid, _exit, _getpid, _getppid, _close = os.fork, os.waitpid, os._exit, os.getpid, os.getppid, os.close
    _setrlimit = __import__("resource").setrlimit
    RLIMIT_NPROC = __import__("resource").RLIMIT_NPROC
    _type, _dict = type, dict
    zygote = [0]

    def zygote_alive():
        if not zygote[0]:
            return False
        try:
            pid, _ = _waitpid(zygote[0], os.WNOHANG)
        except ChildProcessError:
            pid = zygote[0]
        if pid:
            zygote[0] = 0
            helpers[0] = 0
            return False
        return True

    send, recv = make_worker_frames(jobs_w, results_r, zygote_alive)

    def start():
        parent = _getpid()
        reap_children()  # a strict child that already reported still holds its process slot
        if "nproc" in limits:  # one slot for the zygote (guard.set_limits left room for it and its child)
            _setrlimit(RLIMIT_NPROC, (limits["nproc"] - 2, limits["nproc"]))
        try:
            pid = _fork()
        finally:
            if "nproc" in limits:
                _setrlimit(RLIMIT_NPROC, (limits["nproc"] - 3, limits["nproc"]))
        if pid:
            zygote[0] = pid
            helpers[0] = 1
            return
        try:
            # The zygote: real descriptors of all four ends (results first: once the worker can
            # open the jobs pipe, a writer of the results pipe exists), then every descriptor of
            # ours is closed in the children it forks (strict.py), and so is Node's channel.
            O_NB = os.O_NONBLOCK | os.O_CLOEXEC
            real = []
            for fd, how in ((results_r, os.O_RDONLY), (results_w, os.O_WRONLY), (jobs_r, os.O_RDONLY), (jobs_w, os.O_WRONLY)):
                real.append(os.open("/proc/self/fd/%d" % fd, how | O_NB))
            for fd in fds:
                _close(fd)
            close_in_child.extend(real)
            forget_children()  # the worker's unreaped strict children are not ours to wait for
            state[2] = True
            raw_ok[0] = True
            helpers[0] = 1
            z_send, z_recv = make_zygote_frames(real[2], real[3], real[0], real[1], lambda: _getppid() == parent)
            serve_zygote(z_recv, z_send)
        finally:
            _exit(0)

    def run_raw(job):
        if not zygote_alive():
            start()
        if not send({"t": "jobs", "jobs": [job]}):
            _exit(EXIT_PROTOCOL)
        msg = recv()
        # The zygote runs no task code, so anything but this job's result is our own failure:
        # the parent re-runs the job (strict) on a fresh worker.
        if _type(msg) is not _dict or msg.get("t") != "result" or _type(msg.get("r")) is not _dict or msg["r"].get("id") != job["id"]:
            _exit(EXIT_PROTOCOL)
        return msg["r"]

    return run_raw
