"""Weight sync of a LoRA learner's versions into an engine without LoRA (the rollout engine): only
the adapters move, and this engine merges them, W = W_base + scaling · B A, for each adapted weight.

The base is the model this engine started with, kept off the device (a CPU copy of each adapted
weight, taken the first time a version adapts it), so every version merges from the base and
versions never compound. A full version (set_weights, load_weights_file) replaces the live weights
but not the base: once one has, a weight not yet in the base is read again from the model folder.
Covers: that, a weight a previous version adapted and this one does not going back to its base
(weights no version adapts are left as they are: the start model's, in a LoRA run),
adapters from a file (apply_adapters_file) or from frames (apply_adapters, flattened fp32, shaped by
r), PEFT names with or without the `base_model.model.` prefix, all or nothing (every adapter checked
before the first write, the written weights put back if a write fails). Not: the transports
(actors/weight-sync), an engine that trains adapters itself (refused: its LoRA layers hold them).
"""
from __future__ import annotations

import math
import os
import re
from typing import Dict, Optional

import torch

from .safetensors_io import iter_checkpoint, load_file

ADAPTER = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight$")


def full_version_installed(engine) -> None:
    """The live weights are no longer the start model's: the base must come from the model folder,
    and they are no merge of adapters (a failed adapter version restores them from a copy)."""
    engine._replaced_since_start = True
    engine._adapter_live = None


def apply_adapters_file(engine, a: dict) -> dict:
    path = a["path"]
    if not os.path.exists(path):
        raise FileNotFoundError(f"applyAdaptersFile: adapter file {path} does not exist (removed by its publisher, or never written): publish the version again")
    return _apply(engine, load_file(path), a)


def apply_adapters(engine, a: dict) -> dict:
    from .engine import _f32

    return _apply(engine, {n: _f32(b["data"]) for n, b in a["tensors"].items()}, a)


def _apply(engine, tensors: Dict[str, torch.Tensor], a: dict) -> dict:
    """Installs the version whole or not at all. Every adapter is checked before the first write
    (names, pairs, dtype, sizes against the model at rank r, r and scale themselves): checking each
    module as it was merged left the modules before a bad one merged, a model of neither version
    serving on. What can still fail during the writes (a device error, out of memory) puts the
    written weights back as they were before raising."""
    if engine.lora:
        raise ValueError("applyAdapters: this engine trains LoRA adapters of its own; adapter versions go to an engine started without lora, which merges them")
    r, scale, version = _settings(a)
    targets = engine._sync_targets()
    plan = _checked(engine, tensors, targets, r, version)
    kept = set(getattr(engine, "_adapter_base", None) or ())  # the weights earlier adapter versions merged or put back
    try:
        base = _base(engine, targets, set(plan))
        _write(engine, targets, base, plan, scale, version, kept)
    except Exception:
        # The base entries this version added are for weights no installed version adapted: kept,
        # the next version would put them back to their base (and a restore would assume they hold
        # it) where they hold a full version's values.
        base = getattr(engine, "_adapter_base", None) or {}
        for n in set(base) - kept:
            del base[n]
        raise
    engine.version = version
    return {"version": version, "adapted": len(plan)}


def _settings(a: dict):
    """r, scale and version, refused unless r is a positive whole number and scale finite: int(2.5)
    would shape every adapter by 2 and a NaN scale would merge NaN into every adapted weight."""
    r, scale, version = a.get("r"), a.get("scale"), a.get("version")
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not float(r).is_integer() or r < 1:
        raise ValueError(f"applyAdapters: r={r!r} is not a whole number ≥ 1: send the learner's LoRA rank (lora.r)")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"applyAdapters: scale={scale!r} is not a finite number: send the learner's lora.alpha / lora.r")
    if isinstance(version, bool) or not isinstance(version, (int, float)) or not float(version).is_integer():
        raise ValueError(f"applyAdapters: version={version!r} is not a whole number")
    return int(r), float(scale), int(version)


def _checked(engine, tensors: Dict[str, torch.Tensor], targets: Dict[str, torch.Tensor], r: int, version: int) -> Dict[str, tuple]:
    """The version as {weight name: (A [r, in], B [out, r])} in fp32 on the CPU, each checked against
    the weight it adapts; raises, having written nothing, on the first adapter that does not fit."""
    pairs: Dict[str, Dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        m = ADAPTER.match(name)
        if not m:
            raise ValueError(f"applyAdapters: {name!r} is not a LoRA adapter tensor (<module>.lora_A.weight / .lora_B.weight)")
        pairs.setdefault(f"{m.group(1)}.weight", {})[m.group(2)] = t
    plan: Dict[str, tuple] = {}
    for wname, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"applyAdapters: the adapter for {wname} lacks lora_{'B' if 'A' in ab else 'A'}")
        if wname not in targets:
            raise ValueError(f"applyAdapters: version {version} adapts {wname}, which this model does not have: the learner trains another model")
        A, B = ab["A"], ab["B"]
        for which, t in (("A", A), ("B", B)):
            if not t.is_floating_point():
                raise ValueError(f"applyAdapters: {wname}'s lora_{which} is {t.dtype}, not a floating-point tensor: the publisher wrote another file")
        full = tuple(engine.full_shape(wname, targets[wname].shape))
        if len(full) != 2:
            raise ValueError(f"applyAdapters: {wname} is {list(full)}, not a matrix: LoRA adapts linear weights only")
        out_f, in_f = full
        # frames arrive flattened (1-D, shaped here by r); a file's tensors must already be [r, in] and [out, r]
        fits = (A.numel() == r * in_f and B.numel() == out_f * r
                and (A.dim() == 1 or tuple(A.shape) == (r, in_f)) and (B.dim() == 1 or tuple(B.shape) == (out_f, r)))
        if not fits:
            got = f"lora_A {list(A.shape)}, lora_B {list(B.shape)}"
            raise ValueError(f"applyAdapters: {wname} is {list(full)}, the adapter at r={r} needs lora_A [{r}, {in_f}] and lora_B [{out_f}, {r}], "
                             f"got {got}: the learner's model or rank differs (nothing was merged; the engine keeps version {engine.version})")
        # a copy: a frame's tensor views the message's bytes, and the version is kept for a restore
        plan[wname] = (A.detach().float().reshape(r, in_f).clone(), B.detach().float().reshape(out_f, r).clone())
    return plan


def _merge(engine, wname: str, dst: torch.Tensor, base_w: torch.Tensor, ab: Optional[tuple], scale: float) -> None:
    """dst = base + scale · B A (fp32, then the engine's dtype, as lora.merged_state), or the base itself."""
    if ab is None:
        dst.copy_(base_w, non_blocking=True)
        return
    A, B = ab
    delta = engine.shard(wname, (B.to(dst.device) @ A.to(dst.device)) * scale)  # a tensor-parallel rank keeps its slice
    dst.copy_(base_w.to(dst.device, non_blocking=True).float() + delta)


def _write(engine, targets: Dict[str, torch.Tensor], base: Dict[str, torch.Tensor], plan: Dict[str, tuple], scale: float,
           version: int, kept: set) -> None:
    """Merges `plan` and puts every other weight a version adapted back to its base; on a failure,
    every weight written is put back before raising. A weight's value before is known without
    copying it when the last version installed was an adapter version (engine._adapter_live) and
    that version merged it (the same merge again gives it bit for bit), put it back to its base
    (it was in `kept`), or it is still the start model's (no full version yet: its base is a copy
    of it). Otherwise (a full version's value) it is copied to the host before it is overwritten."""
    live = getattr(engine, "_adapter_live", {})  # {}: no version yet, every weight is the start model's
    replaced = getattr(engine, "_replaced_since_start", False)
    order = [(w, plan[w]) for w in plan] + [(w, None) for w in base if w not in plan]
    saved: Dict[str, torch.Tensor] = {}
    written = []
    with torch.no_grad():
        try:
            for wname, ab in order:
                dst = targets[wname]
                if live is None or (wname not in live and wname not in kept and replaced):
                    saved[wname] = _host_copy(dst.detach())
                written.append(wname)
                _merge(engine, wname, dst, base[wname], ab, scale)
        except Exception as e:
            try:
                for w in written:
                    old = None if live is None else live.get(w)
                    if w in saved:
                        targets[w].copy_(saved[w])
                    else:
                        _merge(engine, w, targets[w], base[w], old[:2] if old else None, old[2] if old else 0.0)
            except Exception as e2:
                engine._adapter_live = None  # whatever they are now, not the last version's merge
                raise RuntimeError(f"applyAdapters: version {version} failed while merging {wname} ({type(e).__name__}: {e}), and putting "
                                   f"back the {len(written)} weights written failed too ({type(e2).__name__}: {e2}): this engine's weights are "
                                   f"neither version; send a full version (setWeights) or restart the rollout engine") from e
            raise RuntimeError(f"applyAdapters: version {version} failed while merging {wname} ({type(e).__name__}: {e}); "
                               f"the {len(written)} weights written were restored, the engine serves version {engine.version} still") from e
    engine._adapter_live = {w: (A, B, scale) for w, (A, B) in plan.items()}


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
