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


def _check_header(engine, path: str, targets: dict, wanted: set) -> None:
    """Names, sizes, dtypes and extent of every tensor, from the header, before the first copy: a
    file found wrong half way (truncated, another model's) used to leave the parameters before
    that point overwritten, serving on as neither version."""
    header, base = read_header(path)
    size = os.path.getsize(path)
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
    if not os.path.exists(path):
        raise FileNotFoundError(f"loadWeightsFile: weights file {path} does not exist (removed by its publisher, or never written): publish the version again")
    targets = engine._sync_targets()
    wanted = set(engine._named_for_sync())
    _check_header(engine, path, targets, wanted)  # names, sizes and completeness: nothing below can fail half way on them
    with torch.no_grad():
        for name, t in iter_file(path):
            dst = targets[name]
            dst.copy_(engine.shard(name, t.reshape(engine.full_shape(name, dst.shape))))  # converts dtype and moves to the device in one copy
    full_version_installed(engine)  # LoRA adapter versions still merge into the start model
    engine.version = int(a["version"])
    return {"version": engine.version, "bytes": os.path.getsize(path)}
