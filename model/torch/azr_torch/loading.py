"""Builds a CausalLM from a Hugging Face folder and streams its safetensors into it.

Covers: construction on the meta device (no random init, no host copy of the model), then
`to_empty` on the target device and a copy of each checkpoint tensor straight into its parameter,
shard by shard; checks that every parameter was loaded and names the missing and unexpected
ones; `state_for_save` for the HF layout (tied lm_head omitted, as HF writes it).
Not: quantised checkpoints, `.bin` (pickle) checkpoints.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Tuple

import torch

from .modeling import CausalLM, ModelConfig
from .safetensors_io import iter_checkpoint

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def read_config(model_dir: str) -> Tuple[dict, ModelConfig]:
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{model_dir}: no config.json; the torch engine needs a Hugging Face model folder")
    with open(path) as f:
        raw = json.load(f)
    cfg = ModelConfig.from_hf(raw)
    gen_path = os.path.join(model_dir, "generation_config.json")
    if os.path.exists(gen_path):  # generation_config's eos ids join config.json's (Qwen2.5 instruct ends on <|im_end|> too)
        # only eos_token_id is read: sampling settings (temperature, top_p, ...) come from the recipe,
        # in both engines (model/README.md)
        with open(gen_path) as f:
            try:
                eos = json.load(f).get("eos_token_id")
            except json.JSONDecodeError as e:
                raise ValueError(f"{gen_path} is not valid JSON ({e}): fix or delete it") from None
        if eos is not None:
            # the union, in the ORT engine's order (model/ort/worker.ts): replacing config.json's ids
            # stopped the two backends at different tokens where the files disagree
            more = [eos] if isinstance(eos, int) else eos
            if not isinstance(more, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in more):
                raise ValueError(f"{gen_path}: eos_token_id {json.dumps(eos)} is not a token id or a list of them")
            cfg.eos_token_ids = list(dict.fromkeys(cfg.eos_token_ids + more))
    return raw, cfg


def load_model(model_dir: str, device: torch.device, dtype: torch.dtype, tp=None) -> Tuple[dict, CausalLM]:
    """`tp` (tensor_parallel.TensorParallel): build this rank's slice of the model and keep only its
    part of each checkpoint tensor."""
    raw, cfg = read_config(model_dir)
    if tp is not None:
        cfg = tp.shard_config(cfg)
    model = CausalLM(cfg, device="meta", dtype=dtype)
    model = model.to_empty(device=device)
    if cfg.tie_word_embeddings:  # to_empty may give the tied pair two storages: tie again
        model.lm_head.weight = model.model.embed_tokens.weight
    model.reset_rope()
    params = dict(model.named_parameters(remove_duplicate=False)) if _has_remove_duplicate() else _all_named_parameters(model)
    loaded = set()
    unexpected = []
    with torch.no_grad():
        for name, t in iter_checkpoint(model_dir):
            p = params.get(name)
            if p is None:
                unexpected.append(name)
                continue
            want = tuple(p.shape) if tp is None else tp.full_shape(name, tuple(p.shape))
            if want != tuple(t.shape):
                raise ValueError(f"{model_dir}: {name} has shape {list(t.shape)} in the checkpoint, the config implies {list(want)}")
            if tp is not None:
                t = tp.shard(name, t)
            p.copy_(t)  # one tensor at a time: converts dtype and moves to the device in one copy
            loaded.add(name)
    missing = [n for n in params if n not in loaded and not (cfg.tie_word_embeddings and n == "lm_head.weight")]
    if missing:
        raise ValueError(f"{model_dir}: checkpoint lacks {len(missing)} tensors, e.g. {missing[:5]}")
    if unexpected and any(not n.endswith("rotary_emb.inv_freq") for n in unexpected):
        raise ValueError(f"{model_dir}: checkpoint has tensors the {cfg.model_type} architecture does not use, e.g. {unexpected[:5]}")
    return raw, model


def _has_remove_duplicate() -> bool:
    import inspect

    return "remove_duplicate" in inspect.signature(torch.nn.Module.named_parameters).parameters


def _all_named_parameters(model: torch.nn.Module) -> Dict[str, torch.nn.Parameter]:
    """named_parameters including tied duplicates (torch < 2.0 has no remove_duplicate)."""
    out = {}
    for mod_name, mod in model.named_modules(remove_duplicate=False):
        for pname, p in mod._parameters.items():
            if p is not None:
                out[f"{mod_name}.{pname}" if mod_name else pname] = p
    return out


def state_for_save(model: CausalLM) -> Dict[str, torch.Tensor]:
    """HF-named base weights (LoRA wrappers unwrapped); lm_head omitted when tied."""
    out = {}
    for name, p in model.named_parameters():
        if ".lora_" in name:
            continue
        out[name.replace(".base_layer.", ".")] = p.detach()
    if model.cfg.tie_word_embeddings:
        out.pop("lm_head.weight", None)
    return out
