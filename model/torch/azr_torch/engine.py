"""One model engine inside the worker: the methods the TypeScript driver calls by name.

Covers: init (device/dtype checks, model load, LoRA apply or load), info, generate (a stream),
score, train_step, get_weights (a stream, one tensor per frame), set_weights (in place, in parts),
save (HF layout; PEFT layout for adapters), set_adapters (the frozen base as reference model).
Tensors cross the pipe as little-endian fp32 bytes plus a shape.

Multi-GPU training as built: the learner actor starts one worker per GPU (model/torch/ranks.ts,
distributed.py: NCCL on GPU, gloo on CPU). By default every rank holds the whole model and
gradients, the gradients are summed in bounded buckets, and AdamW's moments are sharded
(training.py, ZeRO stage 1); with `optim.fsdp` weights, gradients and moments are all sharded
(fsdp.py), and get_weights / save / save_weights_file / save_training_state become collectives
whose files and frames come from rank 0 alone. Design notes for what is not built here yet:
- Weight sync without a file: the learner exports CUDA IPC handles (torch.multiprocessing's
  reductions) and the rollout worker copies from them with set_weights semantics; today the
  learner writes a safetensors file in /dev/shm (one node) or the JetStream object store.
"""
from __future__ import annotations

import math
import os
import shutil
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch

from . import adapter_sync
from . import fsdp as fsdp_mod
from . import lora as lora_mod
from .detok import Detokenizer
from .generation import GenOptions, Generator
from .loading import DTYPES, load_model, state_for_save
from .safetensors_io import HAVE_SAFETENSORS_PACKAGE, save_checkpoint
from .training import LossSettings, OptimSettings, ResponseLogprobs, Trainer, response_logprobs


class TorchUnavailable(Exception):
    """The installed torch cannot serve the request (e.g. a CUDA device with a CPU-only build)."""


class _Staging:
    """One pinned host buffer reused for every device -> host copy of get_weights: pageable copies
    of fp32 weights ran at ~1 GB/s on an H100 host, pinned ones at PCIe speed."""

    def __init__(self):
        self.buf = None

    def to_bytes(self, t: torch.Tensor) -> bytes:
        t = t.detach()
        if t.device.type != "cuda":
            return t.to(torch.float32).contiguous().numpy().astype("<f4", copy=False).tobytes()
        n = t.numel()
        if self.buf is None or self.buf.numel() < n:
            self.buf = torch.empty(n, dtype=torch.float32, pin_memory=True)
        view = self.buf[:n]
        view.copy_(t.reshape(-1).to(torch.float32))  # cast on the device, one DMA into pinned memory
        return view.numpy().tobytes()


def _tensor_out(t: torch.Tensor, staging: Optional[_Staging] = None) -> dict:
    return {"shape": list(t.shape), "data": (staging or _Staging()).to_bytes(t)}


def _f32(data: bytes, shape=None) -> torch.Tensor:
    """A read-only view of the frame's bytes (callers only copy out of it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-writable buffer: fine, nothing writes to it
        t = torch.from_numpy(np.frombuffer(data, dtype="<f4"))
    return t if shape is None else t.reshape(shape)


def _check_ids(what: str, seqs, vocab: int, kind: str = "prompt") -> None:
    """Token ids outside the vocabulary are refused before the embedding sees them: on CUDA an
    out-of-range index is a device-side assert that breaks the worker's CUDA context for good."""
    for i, s in enumerate(seqs):
        # one pass in C for the usual case (an int array in range); the per-token search only to name a culprit
        try:
            arr = np.asarray(s) if isinstance(s, list) else None
        except ValueError:  # ragged (a list inside): the search below names it
            arr = None
        if arr is not None and arr.ndim == 1 and (arr.size == 0 or (arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() < vocab)):
            continue
        bad = next((j for j, t in enumerate(s) if not isinstance(t, (int, np.integer)) or not 0 <= t < vocab), None)
        if bad is not None:
            raise ValueError(f"{what}: {kind} {i} has token id {s[bad]} at position {bad}, outside the vocabulary [0, {vocab}) "
                             f"(tokenize with this model's tokenizer)")


def _check_generate(a: dict, vocab: int) -> None:
    """The sampling options the ORT engine refuses (model/generate/loop.ts), refused here too: read
    as they were, a negative temperature or topP 0 decoded greedily, a negative topK or a topP
    above 1 was ignored and maxNewTokens 2.5 became 2, where the other backend raises."""
    n, t, k, p = a.get("maxNewTokens"), a.get("temperature"), a.get("topK"), a.get("topP")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"generate: maxNewTokens must be an integer >= 1, got {n}")
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
        raise ValueError(f"generate: temperature must be >= 0 (0 = greedy), got {t}")
    if k is not None and not (isinstance(k, (int, np.integer)) and k >= 0):
        raise ValueError(f"generate: topK must be an integer >= 0 (0 = off), got {k}")
    if p is not None and not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise ValueError(f"generate: topP must be in (0, 1], got {p}")
    _check_ids("generate", a["prompts"], vocab)


class Engine:
    def __init__(self, a: dict):
        threads = a.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
        torch.manual_seed(int(a.get("seed", 0)))  # LoRA init and dropout
        device = str(a.get("device", "cpu"))
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}, but no GPU is visible"
                raise TorchUnavailable(
                    f"device {device!r} was asked for, but torch {torch.__version__} is {build}. Install a CUDA build of PyTorch "
                    f"for this interpreter (pip install torch --index-url https://download.pytorch.org/whl/cu124) or set AZR_PYTHON "
                    f"to a Python that has one; check with: python3 -c 'import torch; print(torch.cuda.is_available())'")
        self.device = torch.device(device)
        self.dist = None
        if a.get("distributed"):
            from .distributed import init_distributed

            self.dist = init_distributed(a["distributed"], self.device)
        dtype_name = a.get("dtype") or ("bfloat16" if self.device.type == "cuda" else "float32")
        if dtype_name not in DTYPES:
            raise ValueError(f"dtype {dtype_name!r}: use one of {', '.join(DTYPES)}")
        self.dtype_name = dtype_name
        self.model_dir = a["modelDir"]
        self.optim_args = dict(a.get("optim") or {})
        self.optim = OptimSettings.from_args(self.optim_args)
        # FSDP shards over the ranks of a process group (TorchRankGroup starts a group of one without
        # one: nothing to shard; gpu_smoke.py joins a one-rank group to reach FSDP's CUDA paths)
        use_fsdp = self.optim.fsdp and self.dist is not None
        # tensor parallel (the rollout engine across GPUs): each rank holds a slice of every layer
        self.tp = None
        if a.get("tensorParallel"):
            if self.dist is None:
                raise ValueError("tensorParallel needs distributed {rank, worldSize, masterPort}: one rank per GPU")
            if self.optim.fsdp or a.get("lora"):
                raise ValueError("tensorParallel is for inference engines (rollout, reference): not with optim.fsdp or lora")
            from .tensor_parallel import TensorParallel

            self.tp = TensorParallel(self.dist.rank, self.dist.world)
        if use_fsdp:
            reason = fsdp_mod.unavailable_reason()
            if reason:
                raise TorchUnavailable(reason)
            if a.get("lora"):
                raise ValueError("optim.fsdp with LoRA: a LoRA learner's frozen base fits on each GPU without FSDP; turn one of them off")
            self.raw_config, self.model = fsdp_mod.load_for_rank(self.model_dir, self.dist.rank, DTYPES[dtype_name])
        else:
            self.raw_config, self.model = load_model(self.model_dir, self.device, DTYPES[dtype_name], self.tp)
            if self.tp is not None:
                self.tp.install(self.model)
        self.model.eval()
        # the whole model's count, also on a tensor-parallel rank (which holds a slice of most tensors)
        self.n_parameters = sum(math.prod(self.full_shape(n, p.shape)) for n, p in self.model.named_parameters())
        self.lora: Optional[lora_mod.LoraSettings] = None
        if a.get("lora"):
            la = a["lora"]
            if la.get("adapterDir"):
                self.lora, tensors = lora_mod.read_adapter(la["adapterDir"])
                lora_mod.apply_lora(self.model, self.lora)
                lora_mod.load_adapter_state(self.model, tensors)
            else:
                self.lora = lora_mod.LoraSettings.from_args(la)
                lora_mod.apply_lora(self.model, self.lora)
        self.detok = Detokenizer.from_dir(self.model_dir)
        if self.detok is not None:  # config.json's, generation_config.json's and the tokenizer's, as the ORT engine
            self.model.cfg.eos_token_ids = list(dict.fromkeys(self.model.cfg.eos_token_ids + self.detok.eos_ids))
        self.generator = Generator(self.model, self.detok, self.model.cfg.eos_token_ids, self.tp)
        # the wrapped root owns the shards; self.model's parameters become views into them
        self.fsdp_root = fsdp_mod.wrap(ResponseLogprobs(self.model), self.device) if use_fsdp else None
        self.loss = LossSettings.from_args(a.get("loss") or {})
        self.trainer: Optional[Trainer] = None
        self.max_batch = int(a.get("maxBatch", 64))
        self.cuda_graphs = bool(a.get("cudaGraphs", True))
        self.version = 0
        self._staged_weights: Optional[dict] = None  # set_weights' parts of a version not yet final

    def info(self, _a=None) -> dict:
        cfg = self.model.cfg
        return {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": str(self.device),
            "deviceName": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "dtype": self.dtype_name,
            "modelType": cfg.model_type,
            "parameters": self.n_parameters,
            "trainableParameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad) if self.lora else None,
            "eosTokenIds": cfg.eos_token_ids,
            "lora": None if self.lora is None else {"rank": self.lora.r, "alpha": self.lora.alpha, "targetModules": self.lora.target_modules},
            "safetensorsPackage": HAVE_SAFETENSORS_PACKAGE,
            "version": self.version,
            "distributed": None if self.dist is None else {"rank": self.dist.rank, "worldSize": self.dist.world, "backend": self.dist.backend,
                                                           "fsdp": self.fsdp_root is not None, "tensorParallel": self.tp is not None},
        }

    def _not_tensor_parallel(self, what: str) -> None:
        if self.tp is not None:
            raise ValueError(f"{what}: this engine is a tensor-parallel rollout rank (it holds a slice of each layer); "
                             f"it generates, scores and loads weight versions, training and weight export belong to the learner")

    def shard(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """This engine's part of a whole tensor: itself, or a tensor-parallel rank's slice."""
        return t if self.tp is None else self.tp.shard(name, t)

    def full_shape(self, name: str, local) -> tuple:
        return tuple(local) if self.tp is None else self.tp.full_shape(name, tuple(local))

    def _not_sharded(self, what: str) -> None:
        if self.fsdp_root is not None:
            raise ValueError(f"{what}: this engine is an FSDP learner rank (each rank holds a shard of the weights); "
                             f"generation, scoring and weight loading belong to the rollout engine and the reference model")

    def generate(self, a: dict, cancelled: Callable[[], bool]) -> Iterator[dict]:
        self._not_sharded("generate")
        _check_generate(a, self.model.cfg.vocab_size)
        o = GenOptions(
            max_new_tokens=int(a["maxNewTokens"]),
            temperature=float(a.get("temperature") or 0.0),
            top_p=float(a.get("topP") if a.get("topP") is not None else 1.0),
            top_k=int(a.get("topK") or 0),
            seed=int(a.get("seed") or 0),
            first_index=int(a.get("firstIndex") or 0),
            stop=list(a.get("stop") or []),
            max_batch=int(a.get("maxBatch") or self.max_batch),
            cuda_graphs=self.cuda_graphs,
        )
        yield from self.generator.run(a["prompts"], o, cancelled)

    def score(self, a: dict) -> List[bytes]:
        self._not_sharded("score")
        prompts, responses = a["prompts"], a["responses"]
        if len(prompts) != len(responses):
            raise ValueError(f"score: {len(prompts)} prompts but {len(responses)} responses")
        _check_ids("score", prompts, self.model.cfg.vocab_size)
        _check_ids("score", responses, self.model.cfg.vocab_size, "response")
        mb = int(a.get("microBatch") or self.optim.micro_batch)
        out: List[bytes] = []
        with torch.inference_mode():
            for i in range(0, len(prompts), mb):
                logps, _ = response_logprobs(self.model, prompts[i: i + mb], responses[i: i + mb])
                out.extend(lp.float().cpu().numpy().astype("<f4").tobytes() for lp in logps)
        return out

    def _trainer_and_batch(self, a: dict):
        if self.trainer is None:
            self.trainer = Trainer(self.model, self.optim, self.loss, self.dist, self.fsdp_root)
        batch = []
        for s in a["batch"]:
            seq = {"prompt": s["prompt"], "response": s["response"], "advantages": np.frombuffer(s["advantages"], dtype="<f4")}
            for k in ("oldLogprobs", "refLogprobs"):
                seq[k] = None if s.get(k) is None else np.frombuffer(s[k], dtype="<f4")
            batch.append(seq)
        return self.trainer, batch

    def train_step(self, a: dict) -> dict:
        self._not_tensor_parallel("trainStep")
        trainer, batch = self._trainer_and_batch(a)
        return trainer.step(batch)

    def gradients(self, a: dict) -> Iterator[dict]:
        """The summed, unclipped gradients a train step on this batch would apply, without applying
        them (no optimiser step, step count unchanged): first {loss, tokens, terms}, then one
        {name, shape, data} per trainable tensor under getWeights' names. For parity checks
        against the ORT learner, whose TrainCore.accumulate returns the same quantity."""
        self._not_tensor_parallel("gradients")
        if self.fsdp_root is not None:
            raise ValueError("gradients: an FSDP rank holds only its shard of each gradient; check parity with fsdp off")
        trainer, batch = self._trainer_and_batch(a)
        try:
            loss, sums, n_tokens = trainer.accumulate(batch)
            yield {"loss": loss, "tokens": n_tokens, "terms": {k: v / n_tokens for k, v in sums.items()}}
            staging = _Staging()
            for name, p in self._trainable_named().items():
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                yield {"name": name, **_tensor_out(g, staging)}
        finally:
            trainer.optimizer.zero_grad(set_to_none=True)
            self.model.eval()

    def _trainable_named(self) -> Dict[str, torch.nn.Parameter]:
        """Trainable parameters under the names getWeights uses (PEFT names for adapters, else HF
        names; a tied lm_head is the embedding's parameter, listed once under its name)."""
        if self.lora:
            return {lora_mod.PEFT_PREFIX + n: p for n, p in self.model.named_parameters() if ".lora_" in n and p.requires_grad}
        return {n.replace(".base_layer.", "."): p for n, p in self.model.named_parameters() if p.requires_grad}

    def configure_training(self, a: dict) -> dict:
        """Replaces the loss settings and/or overrides optimiser settings from the next step on
        (a learner may anneal a KL or entropy coefficient); optimiser state is kept."""
        self._not_tensor_parallel("configureTraining")
        if a.get("loss") is not None:
            self.loss = LossSettings.from_args(a["loss"])
        if a.get("optim") is not None:
            self.optim_args.update(a["optim"])
            self.optim = OptimSettings.from_args(self.optim_args)
        if self.trainer is not None:
            self.trainer.loss_s, self.trainer.opt_s = self.loss, self.optim
            self.model.gradient_checkpointing = self.optim.gradient_checkpointing
            for g in self.trainer.optimizer.param_groups:
                g.update(betas=self.optim.betas, eps=self.optim.eps, weight_decay=self.optim.weight_decay)
        return {}

    def save_training_state(self, a: dict) -> dict:
        """Optimiser moments, step count and torch RNG (dropout) to <dir>/training_state.pt, so a
        restarted learner (weights from `save`, this file) continues as if never stopped. With
        several ranks every rank calls this (sharded moments are gathered) and rank 0 writes the
        whole state as one plain AdamW state dict: a group of any size, or one engine, resumes it."""
        if self.trainer is None:
            raise ValueError("saveTrainingState: no trainStep has run yet, there is no optimiser state")
        optimizer = self.trainer.full_optimizer_state()
        if optimizer is None:  # not rank 0
            return {"step": self.trainer.step_count}
        os.makedirs(a["dir"], exist_ok=True)
        state = {"optimizer": optimizer, "step": self.trainer.step_count,
                 "cpu_rng": torch.get_rng_state(), "optim_args": self.optim_args,
                 "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
        path = os.path.join(a["dir"], "training_state.pt")
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
        return {"step": self.trainer.step_count}

    def load_training_state(self, a: dict) -> dict:
        path = os.path.join(a["dir"], "training_state.pt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found; it is written by saveTrainingState")
        kw = {"weights_only": False} if "weights_only" in __import__("inspect").signature(torch.load).parameters else {}
        if self.fsdp_root is not None:
            kw["mmap"] = True  # the other ranks read only step and RNG: the moments' pages stay on disk
        # to host memory first: the optimiser moves each moment to its parameter's device, and a
        # sharded rank keeps only its share (the whole state on every GPU could not fit)
        state = torch.load(path, map_location="cpu", **kw)
        if self.trainer is None:
            self.trainer = Trainer(self.model, self.optim, self.loss, self.dist, self.fsdp_root)
        rank0 = self.dist is None or self.dist.rank == 0
        # under FSDP rank 0's copy is broadcast shard by shard; the others pass none
        self.trainer.load_optimizer_state(state["optimizer"] if rank0 or self.fsdp_root is None else None)
        self.trainer.step_count = int(state["step"])
        torch.set_rng_state(state["cpu_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        return {"step": self.trainer.step_count}

    def _named_for_sync(self) -> Dict[str, torch.Tensor]:
        """The tensors a weight version carries. Under FSDP a collective: rank 0 gets the full
        weights, the other ranks {}."""
        if self.fsdp_root is not None:
            return fsdp_mod.full_model_state(self.fsdp_root, self.model.cfg.tie_word_embeddings)
        return lora_mod.adapter_state(self.model) if self.lora else state_for_save(self.model)

    def writes_files(self) -> bool:
        """False on an FSDP rank other than 0: it takes part in gathering the weights, rank 0 writes them."""
        return self.fsdp_root is None or self.dist.rank == 0

    def get_weights(self, _a=None) -> Iterator[dict]:
        self._not_tensor_parallel("getWeights")
        staging = _Staging()
        for name, t in self._named_for_sync().items():
            yield {"name": name, **_tensor_out(t, staging)}

    def _sync_targets(self) -> dict:
        """What a weight version may write: the tensors get_weights names, plus lm_head.weight for a
        tied model (same storage as the embeddings), which files and senders may include."""
        self._not_sharded("setWeights")
        targets = self._named_for_sync()
        if self.model.cfg.tie_word_embeddings and not self.lora:
            targets["lm_head.weight"] = self.model.lm_head.weight
        return targets

    def set_weights(self, a: dict) -> dict:
        """Installs a weight version sent in parts (`part` 0, 1, ...; `final` on the last), all or
        nothing: each part is checked when it arrives and held, and the live parameters are written
        only once the final part has been checked too. Copying each part as it came left a version
        refused in a later part half installed: the earlier parts' tensors overwritten, a model that
        is neither version serving on as the old one. The held parts cost host memory up to one
        version's fp32 bytes until the final part (not device memory: the copies go straight into
        the parameters)."""
        targets = self._sync_targets()
        part, version, final = int(a.get("part", 0)), int(a["version"]), bool(a.get("final", True))
        staged, self._staged_weights = self._staged_weights, None  # any failure below drops the held parts
        if part == 0:
            staged = {"version": version, "next": 0, "tensors": {}}
        elif staged is None or staged["version"] != version or staged["next"] != part:
            raise ValueError(f"setWeights: part {part} of version {version} came without the parts before it (one failed, or they were "
                             f"for another version); nothing was installed: send the version again from its first part")
        self._check_weight_part(a["tensors"], targets)
        staged["tensors"].update(a["tensors"])
        if not final:
            staged["next"] = part + 1
            self._staged_weights = staged
            return {"version": self.version}
        with torch.no_grad():
            for name, blob in staged["tensors"].items():
                dst = targets[name]
                src = _f32(blob["data"])
                dst.copy_(self.shard(name, src.reshape(self.full_shape(name, dst.shape))))  # targets are detached views of the parameters
        adapter_sync.full_version_installed(self)  # LoRA adapter versions still merge into the start model
        self.version = version
        return {"version": self.version}

    def _check_weight_part(self, tensors: dict, targets: dict) -> None:
        """Names and sizes of one part of setWeights, before anything is held or copied."""
        unknown = [n for n in tensors if n not in targets]
        if unknown:
            raise ValueError(f"setWeights: no parameter named {unknown[:3]} ({'LoRA adapters' if self.lora else 'HF names'} expected)")
        for name, blob in tensors.items():
            shape = self.full_shape(name, targets[name].shape)
            if len(blob["data"]) != 4 * math.prod(shape):
                raise ValueError(f"setWeights: {name} has {len(blob['data']) / 4:g} values, the parameter has {math.prod(shape)}")

    def set_adapters(self, a: dict) -> dict:
        if not self.lora:
            raise ValueError("setAdapters: this engine has no LoRA adapters")
        lora_mod.set_adapters_enabled(self.model, bool(a["enabled"]))
        return {"enabled": bool(a["enabled"])}

    def save(self, a: dict) -> dict:
        self._not_tensor_parallel("save")
        out = a["dir"]
        os.makedirs(out, exist_ok=True)
        merged = bool(a.get("merged"))
        if self.lora and not merged:
            lora_mod.save_adapter(self.model, self.lora, out, os.path.abspath(self.model_dir))
            return {"files": ["adapter_config.json", "adapter_model.safetensors"]}
        tensors = lora_mod.merged_state(self.model) if self.lora else self._named_for_sync()
        if not self.writes_files():
            return {"files": []}
        if self.model.cfg.tie_word_embeddings:
            tensors.pop("lm_head.weight", None)
        dtype = DTYPES.get(a.get("dtype") or self.dtype_name, torch.float32)
        files = save_checkpoint({n: t.to(dtype) for n, t in tensors.items()}, out, int(a.get("maxShardBytes") or 5 * 1024**3))
        cfg = dict(self.raw_config)
        cfg["torch_dtype"] = a.get("dtype") or self.dtype_name
        import json

        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        for extra in ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "chat_template.jinja"):
            src = os.path.join(self.model_dir, extra)
            if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(os.path.join(out, extra)):
                shutil.copyfile(src, os.path.join(out, extra))
        return {"files": ["config.json", *files]}
