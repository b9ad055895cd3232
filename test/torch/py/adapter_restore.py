"""Checks, run by test/torch/adapter-merge-atomic.test.ts, that an adapter version failing half way
through its writes into the model (a device error, simulated by the merge of its k-th module
leaving that weight NaN and raising) puts back every weight it had written, bit for bit, and that the engine then takes
the same version whole. One JSON line per check: {"check", "ok", "detail"}.
Usage: PYTHONPATH=model/torch python3 test/torch/py/adapter_restore.py <model dir>"""
from __future__ import annotations

import json
import sys

import torch

from azr_torch import adapter_sync
from azr_torch.engine import Engine

torch.set_num_threads(1)
MODEL_DIR = sys.argv[1]
R = 2


def adapters(engine: Engine, seed: int, first: int = 10**9) -> dict:
    """Adapters for the model's projections (the first `first` of them)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    names = [n for n, _ in engine.model.named_parameters() if n.startswith("model.layers.") and n.endswith("_proj.weight")][:first]
    for name, p in engine.model.named_parameters():
        if name in names:
            mod = name[: -len(".weight")]
            out[f"base_model.model.{mod}.lora_A.weight"] = torch.randn(R, p.shape[1], generator=g) * 0.1
            out[f"base_model.model.{mod}.lora_B.weight"] = torch.randn(p.shape[0], R, generator=g) * 0.1
    return out


def state(engine: Engine) -> dict:
    return {n: p.detach().clone() for n, p in engine.model.named_parameters()}


def changed(engine: Engine, before: dict) -> list:
    return [n for n, p in engine.model.named_parameters() if not torch.equal(p.detach(), before[n])]


def fail_on(k: int):
    """Makes the k-th merge of a module fail half way: its weight is left full of NaN, then it raises."""
    calls = {"n": 0}
    real = adapter_sync._merge

    def merge(engine, wname, dst, *rest):
        calls["n"] += 1
        if calls["n"] == k:
            dst.fill_(float("nan"))
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(engine, wname, dst, *rest)

    adapter_sync._merge = merge
    return lambda: setattr(adapter_sync, "_merge", real)


def check(name: str, engine: Engine, version_before: int, k: int, install_after: bool = True):
    before = state(engine)
    v = adapters(engine, 1000 + version_before)
    undo = fail_on(k)
    detail = {}
    try:
        adapter_sync._apply(engine, v, {"r": R, "scale": 2.0, "version": version_before + 1})
        detail["raised"] = False
    except RuntimeError as e:
        detail["raised"] = True
        detail["message"] = str(e)
    finally:
        undo()
    detail["changed"] = changed(engine, before)[:3]
    detail["version"] = engine.version
    ok = detail["raised"] and not detail["changed"] and engine.version == version_before and "restored" in detail.get("message", "")
    if install_after:  # the same version then installs
        adapter_sync._apply(engine, v, {"r": R, "scale": 2.0, "version": version_before + 1})
        ok = ok and engine.version == version_before + 1 and len(changed(engine, before)) > 0
        print(json.dumps({"check": name, "ok": bool(ok), "detail": detail}), flush=True)
    return bool(ok), detail


e = Engine({"modelDir": MODEL_DIR, "threads": 1})
adapter_sync._apply(e, adapters(e, 1), {"r": R, "scale": 2.0, "version": 1})
check("after an adapter version", e, 1, 5)

# a full version: different live weights than any merge of the base (restored from a copy)
with torch.no_grad():
    for n, p in e.model.named_parameters():
        p.add_(0.01)
adapter_sync.full_version_installed(e)
e.version = 5
check("after a full version", e, 5, 4)

# a fresh engine takes a full version, then an adapter version over its first 3 projections: the
# others hold the full version's values, not their base; a version over all of them failing at
# the 13th module puts those back too
e2 = Engine({"modelDir": MODEL_DIR, "threads": 1})
with torch.no_grad():
    for n, p in e2.model.named_parameters():
        p.add_(0.01)
adapter_sync.full_version_installed(e2)
adapter_sync._apply(e2, adapters(e2, 7, first=3), {"r": R, "scale": 2.0, "version": 8})
held = state(e2)
ok, detail = check("after a full version, then a partial adapter version", e2, 8, 13, install_after=False)
# the refused version adapted none of the other projections: a version over the first 3 again
# leaves them at the full version's values (not at their base)
adapter_sync._apply(e2, adapters(e2, 9, first=3), {"r": R, "scale": 2.0, "version": 10})
firsts = {k.replace("base_model.model.", "").replace(".lora_A", "").replace(".lora_B", "") for k in adapters(e2, 9, first=3)}
detail["next version changed"] = [n for n in changed(e2, held) if n not in firsts][:3]
print(json.dumps({"check": "after a full version, then a partial adapter version", "ok": ok and not detail["next version changed"], "detail": detail}), flush=True)

fresh = Engine({"modelDir": MODEL_DIR, "threads": 1})
check("from the start model", fresh, 0, 3)
