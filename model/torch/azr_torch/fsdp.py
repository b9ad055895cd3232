"""Fully sharded data parallel (FSDP, FULL_SHARD) for the learner's ranks: each rank keeps 1/world of
the weights, gradients and AdamW moments, and gathers one decoder layer's weights at a time for its
forward and again for its backward — what full fine-tuning of 7B-14B models needs to fit.

Covers: wrapping ResponseLogprobs (the learner's whole forward) with one FSDP unit per DecoderLayer
and the embeddings / final norm / lm_head in the root unit; loading (rank 0 reads the checkpoint
into host memory, the other ranks allocate host memory they never touch, and FSDP broadcasts rank
0's weights unit by unit as it moves them to the device); the full state dict in HF names for
getWeights / save (a collective: rank 0 gets the tensors); the optimiser state converted to and
from the plain AdamW layout the one-rank and ZeRO-1 paths write, so a checkpoint moves between all
three. Compute precision is the caller's (bf16 autocast over fp32 weights on CUDA, as without FSDP).
Not: FSDP2 (`fully_shard`: torch 2.6's CPU path fails, so it could not be tested without a GPU),
bf16 all-gathers (MixedPrecision would halve the traffic but change the numerics against the other
paths), LoRA under FSDP (a LoRA learner's frozen bf16 base fits without it), parameter CPU offload,
hybrid sharding across nodes.
"""
from __future__ import annotations

import contextlib
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .loading import load_model, read_config
from .modeling import CausalLM, DecoderLayer

MIN_TORCH = (2, 1)  # FSDP on CPU ranks (gloo) and the optimiser state APIs used here


def unavailable_reason() -> Optional[str]:
    """Why this torch cannot run the FSDP learner, or None when it can."""
    try:
        version = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    except ValueError:
        version = (0, 0)
    if version < MIN_TORCH:
        return (f"trainer.fsdp needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]}; this interpreter has torch {torch.__version__}. "
                f"Install a newer PyTorch (set AZR_PYTHON to a Python that has one) or turn fsdp off")
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means the same thing here
        return f"trainer.fsdp: torch {torch.__version__} cannot import torch.distributed.fsdp ({e})"
    return None


def load_for_rank(model_dir: str, rank: int, dtype: torch.dtype) -> Tuple[dict, CausalLM]:
    """Rank 0: the checkpoint in host memory. Other ranks: the same modules over uninitialised host
    memory (large allocations are mmapped and stay untouched until FSDP overwrites them with rank 0's
    broadcast), so a node does not hold world copies of the model."""
    cpu = torch.device("cpu")
    if rank == 0:
        return load_model(model_dir, cpu, dtype)
    raw, cfg = read_config(model_dir)
    model = CausalLM(cfg, device="meta", dtype=dtype).to_empty(device=cpu)
    if cfg.tie_word_embeddings:  # to_empty gives the tied pair two storages: tie again, as rank 0 has it
        model.lm_head.weight = model.model.embed_tokens.weight
    model.reset_rope()
    return raw, model


def wrap(policy: nn.Module, device: torch.device) -> nn.Module:
    """FULL_SHARD FSDP over `policy` (a ResponseLogprobs), one unit per DecoderLayer, weights taken
    from rank 0. `use_orig_params` keeps the model's own parameters (views into the shards), so
    names, the optimiser and the tied embeddings work as without FSDP."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    on_gpu = device.type == "cuda"
    if not on_gpu:  # FSDP's own sync (sync_module_states) refuses CPU tensors: gloo broadcasts them here
        import torch.distributed as dist

        with torch.no_grad():
            for t in policy.parameters():  # a tied pair is one parameter
                dist.broadcast(t.data, src=0)
    return FSDP(policy, auto_wrap_policy=ModuleWrapPolicy({DecoderLayer}), sharding_strategy=ShardingStrategy.FULL_SHARD,
                device_id=device, sync_module_states=on_gpu, use_orig_params=True, limit_all_gathers=True)


def _full_state_type(root: nn.Module, for_load: bool = False):
    """Full (unsharded) state dicts. On CUDA they are gathered into rank 0's host memory only (the
    whole model on every GPU would not fit); on CPU every rank gets them (FSDP's CPU offload of
    an already-CPU state dict crashes in torch 2.6)."""
    from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    on_gpu = next(root.parameters()).device.type == "cuda"
    import warnings

    stack = contextlib.ExitStack()
    # torch >= 2.4 marks state_dict_type as deprecated in favour of torch.distributed.checkpoint's
    # get_state_dict, which has no rank-0-only gather for a single file
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", FutureWarning)
    stack.enter_context(FSDP.state_dict_type(
        root, StateDictType.FULL_STATE_DICT,
        FullStateDictConfig(offload_to_cpu=on_gpu, rank0_only=on_gpu),
        # loading: rank 0 alone reads the file and FSDP broadcasts each rank its share
        FullOptimStateDictConfig(offload_to_cpu=on_gpu, rank0_only=on_gpu or for_load)))
    return stack


PREFIX = "lm."  # ResponseLogprobs holds the CausalLM as `lm`


def full_model_state(root: nn.Module, tied: bool) -> Dict[str, torch.Tensor]:
    """HF-named full weights on rank 0 (lm_head omitted when tied, as HF writes it); {} elsewhere.
    A collective: every rank calls it."""
    import torch.distributed as dist

    with _full_state_type(root):
        sd = root.state_dict()
    if dist.get_rank() != 0:
        return {}
    out = {k[len(PREFIX):]: v.detach() for k, v in sd.items() if k.startswith(PREFIX) and not k.endswith("inv_freq")}
    if tied:
        out.pop("lm_head.weight", None)
    return out


def _strip(key: str) -> str:
    return key[len(PREFIX):] if key.startswith(PREFIX) else key


def full_optimizer_state(root: nn.Module, optim: torch.optim.Optimizer, names: List[str]) -> Optional[dict]:
    """The whole AdamW state in the plain layout (moments keyed by the index of the parameter in
    `names`, the model's trainable parameters in order) on rank 0; None elsewhere. Collective."""
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    with _full_state_type(root):
        osd = FSDP.optim_state_dict(root, optim)
    if dist.get_rank() != 0:
        return None
    index = {n: i for i, n in enumerate(names)}
    state = {index[_strip(k)]: v for k, v in osd["state"].items()}
    groups = [{**g, "params": sorted(index[_strip(k)] for k in g["params"])} for g in osd["param_groups"]]
    return {"state": state, "param_groups": groups}


def load_optimizer_state(root: nn.Module, optim: torch.optim.Optimizer, names: List[str], plain: Optional[dict]) -> None:
    """Loads a plain AdamW state (rank 0's copy; None on the other ranks) into the sharded optimiser.
    Collective."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    osd: dict = {}
    if plain is not None:
        osd = {"state": {PREFIX + names[int(i)]: v for i, v in plain["state"].items()},
               "param_groups": [{**g, "params": [PREFIX + names[int(i)] for i in g["params"]]} for g in plain["param_groups"]]}
    with _full_state_type(root, for_load=True):
        local = FSDP.optim_state_dict_to_load(root, optim, osd)
    optim.load_state_dict(local)
