"""Safetensors read/write without the `safetensors` package (used instead when importable).

Covers: the format (8-byte little-endian header length, JSON header of name -> {dtype, shape,
data_offsets}, raw little-endian tensor bytes), F32/F16/BF16 (+ integer types for buffers),
sharded checkpoints with `model.safetensors.index.json`, and streaming: `iter_tensors` memory-maps
each shard and yields one tensor at a time, so a loader copies it straight to its device without
a second full copy of the model in host memory.
Not: big-endian hosts, F8 types.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import warnings
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

# safetensors dtype tag -> (numpy dtype used to view the bytes, torch dtype of the tensor)
_DTYPES: Dict[str, Tuple[np.dtype, torch.dtype]] = {
    "F32": (np.dtype("<f4"), torch.float32),
    "F16": (np.dtype("<f2"), torch.float16),
    "BF16": (np.dtype("<i2"), torch.bfloat16),  # numpy has no bf16: read the bits, reinterpret in torch
    "F64": (np.dtype("<f8"), torch.float64),
    "I64": (np.dtype("<i8"), torch.int64),
    "I32": (np.dtype("<i4"), torch.int32),
    "I16": (np.dtype("<i2"), torch.int16),
    "I8": (np.dtype("i1"), torch.int8),
    "U8": (np.dtype("u1"), torch.uint8),
    "BOOL": (np.dtype("?"), torch.bool),
}
_TAG_OF = {tdt: tag for tag, (_, tdt) in _DTYPES.items()}

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


def read_header(path: str) -> Tuple[Dict[str, dict], int]:
    """The JSON header (without __metadata__) and the byte offset where tensor data starts."""
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", prefix)
        if n > 100_000_000:
            raise ValueError(f"{path}: header length {n} is implausible; not a safetensors file?")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def _tensor_from_buffer(buf, base: int, meta: dict, name: str, path: str) -> torch.Tensor:
    tag = meta["dtype"]
    if tag not in _DTYPES:
        raise ValueError(f"{path}: tensor {name} has dtype {tag}, which azr does not read")
    npdt, tdt = _DTYPES[tag]
    start, end = meta["data_offsets"]
    count = (end - start) // npdt.itemsize
    arr = np.frombuffer(buf, dtype=npdt, count=count, offset=base + start)
    with warnings.catch_warnings():  # the mmap is read-only; we only ever copy out of it
        warnings.simplefilter("ignore")
        t = torch.from_numpy(arr)
    if tdt == torch.bfloat16:
        t = t.view(torch.bfloat16)
    return t.reshape(meta["shape"])


def shard_files(model_dir: str) -> List[str]:
    """The checkpoint's safetensors files, in index order (or the single file)."""
    index = os.path.join(model_dir, INDEX_NAME)
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        seen: List[str] = []
        for fname in weight_map.values():
            if fname not in seen:
                seen.append(fname)
        return [os.path.join(model_dir, s) for s in seen]
    single = os.path.join(model_dir, SINGLE_NAME)
    if os.path.exists(single):
        return [single]
    raise FileNotFoundError(f"{model_dir}: no {SINGLE_NAME} or {INDEX_NAME}; is this a Hugging Face model folder?")


def iter_file(path: str) -> Iterator[Tuple[str, torch.Tensor]]:
    """Yields (name, CPU tensor viewing the memory-mapped file). Copy it before the next item if kept."""
    header, base = read_header(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == base:  # no tensors: mmap of an empty region is not allowed
            return
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            for name, meta in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                if base + meta["data_offsets"][1] > size:
                    raise ValueError(f"{path}: tensor {name} runs past the end of the file (truncated download?)")
                yield name, _tensor_from_buffer(mm, base, meta, name, path)
        finally:
            # numpy views keep the buffer exported; the mmap closes once they are collected
            del mm


def iter_tensors(model_dir: str) -> Iterator[Tuple[str, torch.Tensor]]:
    """Every tensor of a (possibly sharded) checkpoint, one at a time, shard by shard."""
    for path in shard_files(model_dir):
        yield from iter_file(path)


def load_file(path: str) -> Dict[str, torch.Tensor]:
    """All tensors of one file, copied into ordinary CPU memory."""
    return {name: t.clone() for name, t in iter_file(path)}


# Device tensors reach the file through one pinned host buffer, in chunks of at most this many
# bytes: a pageable device -> host copy ran at ~1 GB/s on an H100/H200 host (a 0.5B bf16 sync file
# took 1.1 s to write), a pinned one at PCIe speed; chunks bound the pinned memory for 14B embeddings.
STAGING_BYTES = 256 * 1024**2


class _Writer:
    """Writes tensors' raw little-endian bytes without an intermediate bytes object per tensor."""

    def __init__(self, f):
        self.f, self.staging = f, None

    def write(self, t: torch.Tensor) -> None:
        flat = t.detach().contiguous().reshape(-1).view(torch.uint8)
        if flat.device.type != "cuda":
            self.f.write(memoryview(flat.numpy()))
            return
        for start in range(0, flat.numel(), STAGING_BYTES):
            chunk = flat[start: start + STAGING_BYTES]
            if self.staging is None:
                self.staging = torch.empty(min(STAGING_BYTES, flat.numel()), dtype=torch.uint8, pin_memory=True)
            elif self.staging.numel() < chunk.numel():
                self.staging = torch.empty(chunk.numel(), dtype=torch.uint8, pin_memory=True)
            buf = self.staging[: chunk.numel()]
            buf.copy_(chunk)  # synchronous: the buffer is reused for the next chunk
            self.f.write(memoryview(buf.numpy()))


def save_file(tensors: Dict[str, torch.Tensor], path: str, metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes one safetensors file (tensors in name order, header padded to 8 bytes)."""
    header: Dict[str, dict] = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        if t.dtype not in _TAG_OF:
            raise ValueError(f"tensor {name}: dtype {t.dtype} cannot be written to safetensors by azr")
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": _TAG_OF[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            writer = _Writer(f)
            for name in names:
                writer.write(tensors[name])
    except BaseException:
        try:  # a full disk must not stay full of our half file
            os.remove(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, path)  # a crash mid-write never leaves a half file under the real name


def save_checkpoint(tensors: Dict[str, torch.Tensor], model_dir: str, max_shard_bytes: int = 5 * 1024**3) -> List[str]:
    """Writes model.safetensors, or model-0000i-of-0000n.safetensors + index when over max_shard_bytes."""
    os.makedirs(model_dir, exist_ok=True)
    shards: List[Dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], os.path.join(model_dir, SINGLE_NAME))
        return [SINGLE_NAME]
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map = {}
    total = 0
    for fname, shard in zip(files, shards):
        save_file(shard, os.path.join(model_dir, fname))
        for name, t in shard.items():
            weight_map[name] = fname
            total += t.numel() * t.element_size()
    with open(os.path.join(model_dir, INDEX_NAME), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return files


# The `safetensors` package, when importable, reads faster and is the reference implementation;
# azr's own reader stays the fallback so the worker needs only torch + numpy.
try:  # pragma: no cover - depends on the machine
    from safetensors import safe_open as _safe_open  # type: ignore

    HAVE_SAFETENSORS_PACKAGE = True
except Exception:  # noqa: BLE001 - any import failure means "not usable"
    HAVE_SAFETENSORS_PACKAGE = False


def iter_checkpoint(model_dir: str) -> Iterator[Tuple[str, torch.Tensor]]:
    """Streams a checkpoint's tensors with the `safetensors` package if present, else azr's reader."""
    if not HAVE_SAFETENSORS_PACKAGE:
        yield from iter_tensors(model_dir)
        return
    for path in shard_files(model_dir):
        with _safe_open(path, framework="pt") as f:  # type: ignore[name-defined]
            for name in f.keys():
                yield name, f.get_tensor(name)
