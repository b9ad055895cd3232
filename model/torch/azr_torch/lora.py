"""LoRA adapters on a CausalLM's linear layers, saved and loaded in PEFT's layout.

Covers: wrapping target modules (`q_proj`, `v_proj`, … by their last name) with
y = W x + (alpha / r) · B A dropout(x), A Kaiming-uniform and B zero as PEFT initialises them (so a
fresh adapter changes nothing); freezing the base; `adapter_config.json` +
`adapter_model.safetensors` with PEFT's names (`base_model.model.<module>.lora_A.weight`); turning
adapters off (the frozen base doubles as the reference model); merging for a plain HF checkpoint.
Not: rsLoRA/DoRA, bias training, embedding adapters, several named adapters at once.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List

import torch
import torch.nn as nn

from .safetensors_io import load_file, save_file

PEFT_PREFIX = "base_model.model."
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class LoraSettings:
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))

    @staticmethod
    def from_args(a: dict) -> "LoraSettings":
        s = LoraSettings()
        s.r = int(a.get("rank", a.get("r", s.r)))
        s.alpha = float(a.get("alpha", s.alpha))
        s.dropout = float(a.get("dropout", s.dropout))
        s.target_modules = list(a.get("targetModules", a.get("target_modules", s.target_modules)))
        if s.r <= 0:
            raise ValueError(f"lora.rank must be > 0, got {s.r}")
        return s


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, s: LoraSettings):
        super().__init__()
        self.base_layer = base
        dev = base.weight.device
        # adapters train in fp32 even on a bf16 base: their updates are small and bf16 would round them away
        self.lora_A = nn.Linear(base.in_features, s.r, bias=False, device=dev, dtype=torch.float32)
        self.lora_B = nn.Linear(s.r, base.out_features, bias=False, device=dev, dtype=torch.float32)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(s.dropout) if s.dropout > 0 else nn.Identity()
        self.scaling = s.alpha / s.r
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if not self.enabled:
            return y
        delta = self.lora_B(self.lora_A(self.dropout(x).to(self.lora_A.weight.dtype))) * self.scaling
        return y + delta.to(y.dtype)


def apply_lora(model: nn.Module, s: LoraSettings) -> List[str]:
    """Wraps the target linears in place, freezes everything else; returns the wrapped module names."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if child_name in s.target_modules and isinstance(child, nn.Linear):
                setattr(mod, child_name, LoraLinear(child, s))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    if not wrapped:
        raise ValueError(f"lora.targetModules {s.target_modules} matched no linear layer")
    return wrapped


def lora_modules(model: nn.Module) -> List[LoraLinear]:
    return [m for m in model.modules() if isinstance(m, LoraLinear)]


def set_adapters_enabled(model: nn.Module, on: bool) -> None:
    for m in lora_modules(model):
        m.enabled = on


def adapter_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Adapter tensors under PEFT's saved names."""
    return {PEFT_PREFIX + n: p.detach() for n, p in model.named_parameters() if ".lora_" in n}


def load_adapter_state(model: nn.Module, tensors: Dict[str, torch.Tensor]) -> None:
    params = {PEFT_PREFIX + n: p for n, p in model.named_parameters() if ".lora_" in n}
    unknown = [n for n in tensors if n not in params]
    if unknown:
        raise ValueError(f"adapter tensors the model has no LoRA slot for, e.g. {unknown[:3]} (targets or rank differ?)")
    with torch.no_grad():
        for n, t in tensors.items():
            if tuple(params[n].shape) != tuple(t.shape):
                raise ValueError(f"adapter {n}: shape {list(t.shape)}, model expects {list(params[n].shape)} (rank differs?)")
            params[n].copy_(t)


def save_adapter(model: nn.Module, s: LoraSettings, out_dir: str, base_model: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    wrapped = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, LoraLinear)})
    cfg = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": s.r,
        "lora_alpha": s.alpha,
        "lora_dropout": s.dropout,
        "target_modules": wrapped,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "use_rslora": False,
        "use_dora": False,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file({n: t.float() for n, t in adapter_state(model).items()}, os.path.join(out_dir, "adapter_model.safetensors"))


def read_adapter(adapter_dir: str):
    """(LoraSettings, tensors) from a PEFT adapter folder."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{adapter_dir}: peft_type {cfg.get('peft_type')!r}; only LORA adapters load")
    if cfg.get("use_dora") or cfg.get("use_rslora"):
        raise ValueError(f"{adapter_dir}: DoRA/rsLoRA adapters are not implemented")
    tm = cfg["target_modules"]
    s = LoraSettings(r=int(cfg["r"]), alpha=float(cfg["lora_alpha"]), dropout=float(cfg.get("lora_dropout", 0.0)),
                     target_modules=[tm] if isinstance(tm, str) else list(tm))
    tensors = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    # PEFT saves without the adapter name; some tools keep ".default" — accept both
    tensors = {n.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B."): t for n, t in tensors.items()}
    return s, tensors


def merged_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Base weights with every adapter folded in: W + scaling · B A (HF names, no LoRA keys)."""
    out = {}
    for name, p in model.named_parameters():
        if ".lora_" in name:
            continue
        out[name.replace(".base_layer.", ".")] = p.detach()
    for name, m in model.named_modules():
        if isinstance(m, LoraLinear):
            w = m.base_layer.weight
            delta = (m.lora_B.weight @ m.lora_A.weight) * m.scaling
            out[f"{name}.weight"] = (w.float() + delta).to(w.dtype).detach()
    return out
