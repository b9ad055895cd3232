"""The pipe protocol with the Node parent, kept out of the task's reach.

Frames are a 4-byte big-endian length and a msgpack map: a config frame at start, then batches
of jobs in and one result frame per task out, streamed.

Why the result channel is out of the task's reach: fds 0/1 (requests/results, FIFOs whose other
ends the Node parent holds open for reading and writing, so dropping ours never reads as EOF
there) are kept only as O_PATH descriptors while task code runs (writes to them fail with
EBADF), /dev/null takes their place, and send/recv re-open them through /proc/self/fd for each
frame — an open the audit hook refuses to task code (guard.py).
"""
import os

import msgpack

from .policy import EXIT_PROTOCOL


def read_startup_frame():
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
    return msgpack.unpackb(read_exact(n), raw=False)


def lock_channel():
    """Turn fds 0/1 into O_PATH descriptors, put /dev/null in their place and close every other
    inherited fd but stderr. Returns (p_in, p_out, in_id, out_id): the O_PATH fds and the
    (st_dev, st_ino) of what they point at, for the integrity check."""
    _os_open, _os_close, _os_dup2, _fstat, _listdir = os.open, os.close, os.dup2, os.fstat, os.listdir
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
    return p_in, p_out, in_id, out_id


def make_channel(p_in, p_out):
    """(send, recv) over the O_PATH descriptors. Everything they call is captured here, before any
    task runs, so a task that patches os or msgpack cannot redirect a frame."""
    _os_open, _os_close, _os_read, _os_write = os.open, os.close, os.read, os.write
    _packb, _unpackb, _len = msgpack.packb, msgpack.unpackb, len
    O_WRONLY, O_RDONLY, O_CLOEXEC = os.O_WRONLY, os.O_RDONLY, os.O_CLOEXEC
    buf = [b""]

    def send(msg):
        data = _packb(msg, use_bin_type=True)
        w = _os_open("/proc/self/fd/%d" % p_out, O_WRONLY | O_CLOEXEC)
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
                    r = _os_open("/proc/self/fd/%d" % p_in, O_RDONLY | O_CLOEXEC)
                chunk = _os_read(r, 1 << 20)
                if not chunk:
                    return None
                buf[0] = b + chunk
        finally:
            if r is not None:
                _os_close(r)

    return send, recv
