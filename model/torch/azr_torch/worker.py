"""The engine worker process: msgpack frames in on stdin, frames out on the original stdout.

Frame: 4-byte big-endian length, then a msgpack map.
  request   {"id": n, "method": "generate", "args": {...}}
  cancel    {"cancel": n}                      (ends a running stream at its next step)
  replies   {"id": n, "ok": value}             (unary result)
            {"id": n, "item": value} ... {"id": n, "end": true}   (streams)
            {"id": n, "error": {"type", "message", "traceback"}}
Calls run one at a time, in arrival order (the driver keeps a FIFO); a reader thread takes
frames off stdin so cancels arrive while a generate runs. Anything printed by Python or C code
goes to stderr: fd 1 is moved aside for frames only. If msgpack, numpy or torch cannot be
imported the worker prints one `AZR_WORKER_FATAL <json>` line on stderr and exits 3, so the driver
can name what to install.
Not: concurrency between calls (one engine, one device stream).
"""
from __future__ import annotations

import json
import os
import queue
import struct
import sys
import threading
import traceback

FATAL_EXIT = 3


def _fatal(kind: str, message: str) -> None:
    sys.stderr.write("AZR_WORKER_FATAL " + json.dumps({"type": kind, "message": message}) + "\n")
    sys.stderr.flush()
    sys.exit(FATAL_EXIT)


try:
    import msgpack  # noqa: E402
except ImportError:
    _fatal("MissingPackage", f"the engine worker's Python ({sys.executable}) cannot import msgpack: "
           "apt-get install python3-msgpack (or pip install msgpack), or point AZR_PYTHON at a Python that has it")
try:
    import numpy  # noqa: E402,F401
except ImportError:
    _fatal("MissingPackage", f"{sys.executable} cannot import numpy: apt-get install python3-numpy (or pip install numpy)")
try:
    import torch  # noqa: E402,F401
except ImportError as e:
    _fatal("TorchMissing", f"{sys.executable} cannot import torch ({e}): on CPU apt-get install python3-torch; on GPUs "
           "pip install torch (a CUDA build from https://pytorch.org), or set AZR_PYTHON to a Python that has it")


class Channel:
    def __init__(self):
        self._out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)  # stray prints (ours or a library's) must never corrupt the frame stream
        sys.stdout = sys.stderr
        self._in = os.fdopen(0, "rb", buffering=0)
        self._lock = threading.Lock()

    def send(self, msg: dict) -> None:
        body = msgpack.packb(msg, use_bin_type=True)
        with self._lock:
            self._out.write(struct.pack(">I", len(body)) + body)

    def _read_exact(self, n: int):
        buf = bytearray()
        while len(buf) < n:
            chunk = self._in.read(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def recv(self):
        head = self._read_exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        body = self._read_exact(n)
        return None if body is None else msgpack.unpackb(body, raw=False)


def device_memory():
    """This worker's accelerator memory so far: peak bytes reserved by torch's caching allocator (what
    the device cannot give to anyone else) and peak bytes in live tensors, on its current CUDA device.
    None where CUDA was never initialised (a CPU engine): asking would initialise it."""
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        d = torch.cuda.current_device()
        return {"peakReserved": int(torch.cuda.max_memory_reserved(d)), "peakAllocated": int(torch.cuda.max_memory_allocated(d))}
    except Exception:  # noqa: BLE001 - a device in an error state: no figure, never a lost reply
        return None


def _with_memory(reply: dict) -> dict:
    """A call's last frame carries the device memory it left behind, so the actor's stats (read
    synchronously, between calls) report GPU memory without a request of their own."""
    mem = device_memory()
    if mem is not None:
        reply["mem"] = mem
    return reply


def main() -> None:
    from .engine import Engine

    ch = Channel()
    requests: "queue.Queue" = queue.Queue()
    cancelled = set()

    def reader():
        while True:
            try:
                msg = ch.recv()
            except Exception as e:  # noqa: BLE001 - a body that is not msgpack: the framing still holds
                # without this the reader thread died and the worker hung with every later call unanswered
                ch.send({"id": None, "error": {"type": type(e).__name__, "message": f"unreadable frame: {e}", "traceback": traceback.format_exc()}})
                continue
            if msg is None:
                requests.put(None)  # the driver closed our stdin: exit
                return
            if isinstance(msg, dict) and isinstance(msg.get("cancel"), int):
                cancelled.add(msg["cancel"])
            else:
                requests.put(msg)

    threading.Thread(target=reader, daemon=True).start()
    engine = None
    while True:
        req = requests.get()
        if req is None:
            break
        # a malformed request gets an error reply (to its id when it has one), not a worker crash
        rid = req.get("id") if isinstance(req, dict) and isinstance(req.get("id"), int) else None
        try:
            if not isinstance(req, dict) or not isinstance(req.get("method"), str) or rid is None:
                raise ValueError(f"malformed request frame (want {{id: int, method: str, args?: map}}): {str(req)[:200]}")
            method, args = req["method"], req.get("args") or {}
            if not isinstance(args, dict):
                raise ValueError(f"{method}: args must be a map, got {type(args).__name__}")
            if method == "init":
                engine = Engine(args)
                last = {"ok": engine.info()}
            elif engine is None:
                raise RuntimeError(f"{method} called before init")
            elif method == "generate":
                for item in engine.generate(args, lambda: rid in cancelled):
                    ch.send({"id": rid, "item": item})
                last = {"end": True}
            elif method in ("get_weights", "gradients"):
                for item in getattr(engine, method)(args):
                    ch.send({"id": rid, "item": item})
                last = {"end": True}
            elif method in ("info", "score", "train_step", "set_weights", "set_adapters", "save", "configure_training",
                            "save_training_state", "load_training_state"):
                last = {"ok": getattr(engine, method)(args)}
            elif method in ("save_weights_file", "load_weights_file"):
                from . import weight_files

                last = {"ok": getattr(weight_files, method)(engine, args)}
            elif method in ("apply_adapters", "apply_adapters_file"):
                from . import adapter_sync

                last = {"ok": getattr(adapter_sync, method)(engine, args)}
            elif method == "crash_for_test":
                os._exit(int(args.get("code", 9)))  # lets the driver's tests see a real worker death
            else:
                raise ValueError(f"unknown method {method!r}")
        except Exception as e:  # noqa: BLE001 - every failure goes back to the caller, typed
            last = {"error": {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}}
        finally:
            cancelled.discard(rid)
        # one place sends a call's last frame (result, stream end or error), with the device memory
        # the call left behind (after an out-of-memory error, the figure wanted)
        ch.send(_with_memory({"id": rid, **last}))


if __name__ == "__main__":
    main()
