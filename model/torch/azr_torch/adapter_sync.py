"""Weight sync of a LoRA learner's versions into an engine without LoRA (the rollout engine): only
the adapters move, and this engine merges them, W = W_base + scaling · B A, for each adapted weight.

The base is the model this engine started with, kept off the device (a CPU copy of each adapted
weight, taken the first time a version adapts it), so every version merges from the base and
versions never compound. A full version (set_weights, load_weights_file) replaces the live weights
but not the base: once one has, a weight not yet in the base is read again from the model folder.
Covers: that, a weight a previous version adapted and this one does not going back to its base
(weights no version adapts are left as they are: the start model's, in a LoRA run),
adapters from a file (apply_adapters_file) or from frames (apply_adapters, flattened fp32, shaped by
r), PEFT names with or without the `base_model.model.` prefix. Not: the transports
(actors/weight-sync), an engine that trains adapters itself (refused: its LoRA layers hold them).
"""
from __future__ import annotations

import os
import re
from typing import Dict, Optional

import torch

from .safetensors_io import iter_checkpoint, load_file

ADAPTER = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight$")


def full_version_installed(engine) -> None:
    """The live weights are no longer the start model's: the base must come from the model folder."""
    engine._replaced_since_start = True


def apply_adapters_file(engine, a: dict) -> dict:
    path = a["path"]
    if not os.path.exists(path):
        raise FileNotFoundError(f"applyAdaptersFile: adapter file {path} does not exist (removed by its publisher, or never written): publish the version again")
    return _apply(engine, load_file(path), a)


def apply_adapters(engine, a: dict) -> dict:
    from .engine import _f32

    return _apply(engine, {n: _f32(b["data"]) for n, b in a["tensors"].items()}, a)


def _apply(engine, tensors: Dict[str, torch.Tensor], a: dict) -> dict:
    if engine.lora:
        raise ValueError("applyAdapters: this engine trains LoRA adapters of its own; adapter versions go to an engine started without lora, which merges them")
    r, scale, version = int(a["r"]), float(a["scale"]), int(a["version"])
    pairs: Dict[str, Dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        m = ADAPTER.match(name)
        if not m:
            raise ValueError(f"applyAdapters: {name!r} is not a LoRA adapter tensor (<module>.lora_A.weight / .lora_B.weight)")
        pairs.setdefault(f"{m.group(1)}.weight", {})[m.group(2)] = t
    targets = engine._sync_targets()
    for wname, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"applyAdapters: the adapter for {wname} lacks lora_{'B' if 'A' in ab else 'A'}")
        if wname not in targets:
            raise ValueError(f"applyAdapters: version {version} adapts {wname}, which this model does not have: the learner trains another model")
    base = _base(engine, targets, set(pairs))
    with torch.no_grad():
        for wname, ab in pairs.items():
            dst = targets[wname]
            A, B = ab["A"].float().reshape(r, -1), ab["B"].float().reshape(-1, r)
            full = engine.full_shape(wname, dst.shape)
            if (B.shape[0], A.shape[1]) != full:
                raise ValueError(f"applyAdapters: {wname} is {list(full)}, the adapter at r={r} makes [{B.shape[0]}, {A.shape[1]}]: the learner's model or rank differs")
            delta = engine.shard(wname, (B.to(dst.device) @ A.to(dst.device)) * scale)  # a tensor-parallel rank keeps its slice
            dst.copy_(base[wname].to(dst.device, non_blocking=True).float() + delta)  # as lora.merged_state: fp32, then the engine's dtype
        for wname, w in base.items():
            if wname not in pairs:
                targets[wname].copy_(w, non_blocking=True)
    engine.version = version
    return {"version": version, "adapted": len(pairs)}


def _base(engine, targets: Dict[str, torch.Tensor], names: set) -> Dict[str, torch.Tensor]:
    """The start model's weights for `names` (CPU, the engine's dtype), added to the kept base as needed."""
    base = getattr(engine, "_adapter_base", None)
    if base is None:
        base = engine._adapter_base = {}
    new = names - set(base)
    if not new:
        return base
    if not getattr(engine, "_replaced_since_start", False):
        for n in new:  # untouched since start: the live weight is the base
            base[n] = _host_copy(targets[n].detach())  # off the device: a GPU holds one copy of the model
        return base
    for n, t in iter_checkpoint(engine.model_dir):
        if n in new:
            base[n] = _host_copy(engine.shard(n, t).to(targets[n].dtype), pin=targets[n].is_cuda)
    missing = sorted(new - set(base))
    if missing:
        raise ValueError(f"applyAdapters: the model folder {engine.model_dir} lacks {missing[:3]}, which the adapters adapt")
    return base


def _host_copy(t: torch.Tensor, pin: Optional[bool] = None) -> torch.Tensor:
    """A host copy of `t`, in pinned memory when it serves a GPU: every adapter version copies the
    base back to the device, at PCIe speed from pinned pages instead of ~1 GB/s from pageable ones."""
    pin = t.is_cuda if pin is None else pin
    out = torch.empty(t.shape, dtype=t.dtype, device="cpu", pin_memory=pin)
    out.copy_(t)
    return out
