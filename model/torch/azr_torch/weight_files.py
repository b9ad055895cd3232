"""Weight sync through a file: the engine writes its weights as one safetensors file, or reads one
into its live parameters, so a weight version moves between engines on one host without crossing
the worker's pipe (the actors pass only the file's path; actors/weight-sync).

Covers: save_weights_file (the tensors get_weights would send, in the engine's dtype unless one is
asked for; written under a temporary name and renamed, so a reader never sees a partial file) and
load_weights_file (set_weights semantics: every tensor get_weights names must be there, shapes
checked, copied in place; a missing file is an error naming it). The file's format is the
checkpoint format, so the ORT engine (model/safetensors.ts) reads and writes the same files.
Not: where the file lives or when it is removed (the actors' job).
"""
from __future__ import annotations

import math
import os

import torch

from .adapter_sync import full_version_installed
from .loading import DTYPES
from .safetensors_io import _DTYPES, iter_file, read_header, save_file


def save_weights_file(engine, a: dict) -> dict:
    engine._not_tensor_parallel("saveWeightsFile")
    path = a["path"]
    dtype = DTYPES[a["dtype"]] if a.get("dtype") else None
    tensors = {n: (t if dtype is None else t.to(dtype)) for n, t in engine._named_for_sync().items()}
    if not engine.writes_files():
        return {"path": path, "bytes": 0, "tensors": 0}
    save_file(tensors, path, {"format": "pt", "azr_version": str(engine.version)})
    return {"path": path, "bytes": os.path.getsize(path), "tensors": len(tensors)}


def _check_header(engine, path: str, targets: dict, wanted: set, read: str = "") -> None:
    """Names, sizes, dtypes and extent of every tensor, from the header, before the first copy: a
    file found wrong half way (truncated, another model's) used to leave the parameters before
    that point overwritten, serving on as neither version. `read`: where to read it (else `path`,
    the name errors give)."""
    header, base = read_header(read or path)
    size = os.path.getsize(read or path)
    for name, meta in header.items():
        dst = targets.get(name)
        if dst is None:
            raise ValueError(f"loadWeightsFile: {path} has a tensor {name!r} this model does not ({'LoRA adapters' if engine.lora else 'HF names'} expected)")
        shape = engine.full_shape(name, dst.shape)
        if math.prod(meta["shape"]) != math.prod(shape):
            raise ValueError(f"loadWeightsFile: {name} in {path} has {math.prod(meta['shape'])} values, the parameter has {math.prod(shape)}")
        if meta["dtype"] not in _DTYPES:
            raise ValueError(f"loadWeightsFile: {name} in {path} has dtype {meta['dtype']}, which azr does not read")
        if base + meta["data_offsets"][1] > size:
            raise ValueError(f"loadWeightsFile: {path}: tensor {name} runs past the end of the file (truncated copy?)")
    missing = sorted(wanted - set(header))
    if missing:
        raise ValueError(f"loadWeightsFile: {path} lacks {len(missing)} tensors, e.g. {missing[:3]}: written by another model?")


def load_weights_file(engine, a: dict) -> dict:
    path = a["path"]
    targets = engine._sync_targets()
    wanted = set(engine._named_for_sync())
    # The header check and the copy read one file, opened once: by name, a file renamed over this
    # one in between (the version published again, a restarted learner's) would be copied unchecked
    # and could fail half way, leaving the parameters neither version.
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"loadWeightsFile: weights file {path} does not exist (removed by its publisher, or never written): publish the version again") from None
    with f:
        same = _same_file(path, f.fileno())
        _check_header(engine, path, targets, wanted, same)  # names, sizes and completeness: nothing below can fail half way on them
        with torch.no_grad():
            for name, t in iter_file(same):
                dst = targets[name]
                dst.copy_(engine.shard(name, t.reshape(engine.full_shape(name, dst.shape))))  # converts dtype and moves to the device in one copy
        size = os.fstat(f.fileno()).st_size
    full_version_installed(engine)  # LoRA adapter versions still merge into the start model
    engine.version = int(a["version"])
    return {"version": engine.version, "bytes": size}


def _same_file(path: str, fd: int) -> str:
    """A name that opens the file behind `fd` whatever is renamed over `path` (Linux /proc), else `path`."""
    alias = f"/proc/self/fd/{fd}"
    return alias if os.path.exists(alias) else path
