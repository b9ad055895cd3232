"""Response log-probs (score) and the learner's policy-gradient step (azr-spec.md §7.2).

Covers: per-token log-probs of responses given prompts, right-padded micro-batches, logits only
at response positions; the PPO-clip / TRR++ token loss
  ρ = exp(clamp(logπ − logπ_old, −b, b)) with b = logRatioClamp (default 20),  ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high)),
  dual clip ℓ = min(ℓ, −A·c) for A < 0 when c is set,
plus an optional KL to reference log-probs (k1, k2 = ½(Δ)², k3 = e^{−Δ} + Δ − 1 with
Δ = logπ − logπ_ref) and an entropy bonus; aggregation token-mean (over the whole step),
microbatch-token-mean or seq-mean-token-mean; AdamW, global-norm clipping (a non-finite norm skips
the step), linear warm-up then constant or cosine decay, gradient accumulation over micro-batches,
optional bf16 autocast on CUDA.
Not: value heads / GAE (TRR++ needs none), several epochs per batch (one optimiser step per call,
as the spec's recipes do), optimiser state in checkpoints (see engine.py's notes).
"""
from __future__ import annotations

import contextlib
import inspect
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .modeling import CausalLM


@dataclass
class _Inputs:
    """One micro-batch on the device: right-padded ids and where its response tokens are."""
    ids: torch.Tensor  # (B,T)
    positions: torch.Tensor  # (B,T)
    rows: torch.Tensor  # (N,) batch row of each response token's predicting position
    cols: torch.Tensor  # (N,) its column
    targets: torch.Tensor  # (N,) the response tokens
    sizes: List[int]  # response lengths


def _inputs(prompts: List[List[int]], responses: List[List[int]], dev: torch.device) -> _Inputs:
    """Host -> device copies of one micro-batch. Each copy from pageable memory synchronises the
    device, so the learner makes all of a step's copies before it queues any compute."""
    lens = [len(p) + len(r) for p, r in zip(prompts, responses)]
    for i, p in enumerate(prompts):
        if len(p) == 0:
            raise ValueError(f"sequence {i}: empty prompt (the first response token needs a context)")
    B, T = len(lens), max(lens)
    ids = torch.tensor([p + r + [0] * (T - len(p) - len(r)) for p, r in zip(prompts, responses)], dtype=torch.long).to(dev)  # (B,T)
    # position t predicts token t+1: gather the hidden states that predict response tokens only
    rows = torch.cat([torch.full((len(r),), b, dtype=torch.long) for b, r in enumerate(responses)]).to(dev)
    cols = torch.cat([torch.arange(len(p) - 1, len(p) - 1 + len(r)) for p, r in zip(prompts, responses)]).to(dev)
    targets = torch.cat([torch.tensor(r, dtype=torch.long) for r in responses]).to(dev)
    return _Inputs(ids, torch.arange(T, device=dev)[None].expand(B, T), rows, cols, targets, [len(r) for r in responses])


def _run(policy: nn.Module, x: _Inputs, with_entropy: bool, entropy_grad: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    # keep=None: causal attention alone. The rows are right-padded, so a real position never sees a
    # padding key (padding comes after it), and padding positions' outputs are never read: exact,
    # and SDPA runs its flash kernel (an explicit mask rules it out).
    return policy(x.ids, x.positions, None, x.rows, x.cols, x.targets, with_entropy, entropy_grad)  # (N,), (N,)


def response_logprobs(model: CausalLM, prompts: List[List[int]], responses: List[List[int]], with_entropy: bool = False,
                      policy: Optional[nn.Module] = None) -> Tuple[List[torch.Tensor], Optional[List[torch.Tensor]]]:
    """Log-prob (and entropy) of each response token under `model`; grads flow if enabled.
    `policy`: the module to call instead of ResponseLogprobs(model) (the learner's FSDP root)."""
    x = _inputs(prompts, responses, model.lm_head.weight.device)
    logp, ent = _run(policy or ResponseLogprobs(model), x, with_entropy)
    return list(torch.split(logp, x.sizes)), (list(torch.split(ent, x.sizes)) if with_entropy else None)


class ResponseLogprobs(nn.Module):
    """The learner's forward as one module call, from padded ids to response-token log-probs. FSDP
    gathers a unit's weights in that unit's forward hooks, so the embeddings, the layers and the
    lm_head chunks must all run inside one forward of the wrapped root (fsdp.py)."""

    def __init__(self, lm: CausalLM):
        super().__init__()
        self.lm = lm

    def forward(self, ids, positions, keep, rows, cols, targets, with_entropy: bool, entropy_grad: bool = True):
        h = self.lm.hidden_states(ids, positions, keep)  # (B,T,C)
        return _token_logprobs(self.lm, h[rows, cols], targets, with_entropy, entropy_grad)  # N = response tokens in the batch


# fp32 logits of N positions over a 152k vocabulary are N * 0.6 MB: 16 responses of 8k tokens would
# need 80 GB. Chunks of this many positions bound that; under autograd each chunk's logits are
# recomputed in backward instead of kept (activation checkpointing of the lm_head + softmax).
LOGITS_CHUNK = 2048


def _token_logprobs(model: CausalLM, h: torch.Tensor, targets: torch.Tensor, with_entropy: bool, entropy_grad: bool = True):
    """h (N,C) hidden states, targets (N,) -> log-prob of each target (N,) and entropy (N,) if asked.
    entropy_grad False: the entropy is only reported (no entropy bonus), so autograd records none of it."""

    def chunk(hc: torch.Tensor, tc: torch.Tensor):
        logp_all = torch.log_softmax(model.logits(hc), dim=-1)  # (n,V) fp32
        lp = logp_all.gather(-1, tc[:, None])[:, 0]
        if not with_entropy:
            return lp, torch.zeros_like(lp)
        with contextlib.nullcontext() if entropy_grad else torch.no_grad():
            ent = -(logp_all.exp() * logp_all).sum(-1)
        return lp, ent

    if h.shape[0] <= LOGITS_CHUNK:
        return chunk(h, targets)
    use_ckpt = torch.is_grad_enabled() and h.requires_grad
    outs = []
    for i in range(0, h.shape[0], LOGITS_CHUNK):
        hc, tc = h[i: i + LOGITS_CHUNK], targets[i: i + LOGITS_CHUNK]
        if use_ckpt:
            from torch.utils.checkpoint import checkpoint

            outs.append(checkpoint(chunk, hc, tc, use_reentrant=False))
        else:
            outs.append(chunk(hc, tc))
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


@dataclass
class LossSettings:
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: Optional[float] = None
    entropy_coef: float = 0.001
    kl_coef: float = 0.0
    kl_type: str = "k3"
    agg: str = "token-mean"
    log_ratio_clamp: float = 20.0

    @staticmethod
    def from_args(a: dict) -> "LossSettings":
        s = LossSettings()
        # same keys as azr/loss.ts (the ORT learner's reference): epsLow/epsHigh, klEstimator
        s.clip_low = float(a.get("epsLow", s.clip_low))
        s.clip_high = float(a.get("epsHigh", s.clip_high))
        s.dual_clip = a.get("dualClip", s.dual_clip)
        s.entropy_coef = float(a.get("entropyCoef", s.entropy_coef))
        s.kl_coef = float(a.get("klCoef", s.kl_coef))
        s.kl_type = a.get("klEstimator", s.kl_type)
        s.agg = a.get("lossAgg", s.agg)
        s.log_ratio_clamp = float(a.get("logRatioClamp", s.log_ratio_clamp))
        if not s.log_ratio_clamp > 0:
            raise ValueError(f"loss.logRatioClamp must be > 0, got {s.log_ratio_clamp}")
        if s.kl_type not in ("k1", "k2", "k3"):
            raise ValueError(f"loss.klEstimator must be k1, k2 or k3, got {s.kl_type!r}")
        if s.agg not in ("token-mean", "microbatch-token-mean", "seq-mean-token-mean"):
            raise ValueError(f"loss.lossAgg must be token-mean, microbatch-token-mean or seq-mean-token-mean, got {s.agg!r}")
        return s


@dataclass
class OptimSettings:
    lr: float = 1e-6
    betas: Tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    schedule: str = "constant"  # or "cosine"
    total_steps: int = 0  # cosine horizon
    min_lr_ratio: float = 0.0
    micro_batch: int = 16
    gradient_checkpointing: bool = False
    autocast_bf16: bool = False
    # With several ranks, each keeps AdamW's moments for its share of the parameters only (ZeRO
    # stage 1, torch's ZeroRedundancyOptimizer): the update is the same, the moments' memory is
    # divided by the world size. Without it every rank holds them all (plain data parallel).
    shard_optimizer_state: bool = True
    # With several ranks, FSDP FULL_SHARD (fsdp.py): weights, gradients and moments all divided by the
    # world size; each layer's weights are gathered for its forward and backward. Same update.
    fsdp: bool = False

    @staticmethod
    def from_args(a: dict) -> "OptimSettings":
        s = OptimSettings()
        s.lr = float(a.get("lr", s.lr))
        if "betas" in a:
            s.betas = (float(a["betas"][0]), float(a["betas"][1]))
        s.eps = float(a.get("eps", s.eps))
        s.weight_decay = float(a.get("weightDecay", s.weight_decay))
        s.max_grad_norm = float(a.get("maxGradNorm", s.max_grad_norm))
        s.warmup_steps = int(a.get("warmupSteps", s.warmup_steps))
        s.schedule = a.get("schedule", s.schedule)
        s.total_steps = int(a.get("totalSteps", s.total_steps))
        s.min_lr_ratio = float(a.get("minLrRatio", s.min_lr_ratio))
        s.micro_batch = int(a.get("microBatch", s.micro_batch))
        s.gradient_checkpointing = bool(a.get("gradientCheckpointing", s.gradient_checkpointing))
        s.autocast_bf16 = bool(a.get("autocastBf16", s.autocast_bf16))
        s.shard_optimizer_state = bool(a.get("shardOptimizerState", s.shard_optimizer_state))
        s.fsdp = bool(a.get("fsdp", s.fsdp))
        if s.schedule not in ("constant", "cosine"):
            raise ValueError(f"optim.schedule must be constant or cosine, got {s.schedule!r}")
        if s.schedule == "cosine" and s.total_steps <= s.warmup_steps:
            raise ValueError(f"optim.schedule cosine needs totalSteps > warmupSteps (got {s.total_steps} <= {s.warmup_steps})")
        if s.micro_batch <= 0:
            raise ValueError(f"optim.microBatch must be >= 1, got {s.micro_batch}")
        return s


def lr_at(s: OptimSettings, step: int) -> float:
    """Learning rate of optimiser step `step` (0-based): linear warm-up, then constant or cosine."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    if s.schedule == "constant":
        return s.lr
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.total_steps - s.warmup_steps))
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def token_losses(logp, old, ref, adv, ent, ls: LossSettings) -> Dict[str, torch.Tensor]:
    """Per-token loss terms for one sequence (all (T,))."""
    ratio = torch.exp(torch.clamp(logp - old, -ls.log_ratio_clamp, ls.log_ratio_clamp))
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1 - ls.clip_low, 1 + ls.clip_high)
    pg = torch.maximum(unclipped, clipped)
    if ls.dual_clip:
        pg = torch.where(adv < 0, torch.minimum(pg, -adv * ls.dual_clip), pg)
    # clipfrac counts PPO clipping (the clipped term chosen), not the dual clip: the ORT learner's
    # convention (model/train/losses.ts) and verl's pg_clipfrac; the two differ only where the dual clip binds
    out = {"pg": pg, "clipfrac": (clipped > unclipped).float(), "approxKl": 0.5 * (logp - old).detach() ** 2}
    total = pg
    if ls.kl_coef and ref is not None:
        d = logp - ref
        kl = d if ls.kl_type == "k1" else 0.5 * d * d if ls.kl_type == "k2" else torch.exp(-d) + d - 1
        out["kl"] = kl
        total = total + ls.kl_coef * kl
    if ent is not None:
        out["entropy"] = ent
        if ls.entropy_coef:
            total = total - ls.entropy_coef * ent
    out["loss"] = total
    return out


def _fused_if_cuda(params: List[torch.nn.Parameter]) -> dict:
    """fused=True on CUDA where torch has it (>= 2.0): one kernel over all parameters instead of the
    foreach path's several per chunk; the same update, and its state dict loads into either."""
    if params and all(p.is_cuda for p in params) and "fused" in inspect.signature(torch.optim.AdamW).parameters:
        return {"fused": True}
    return {}


class Trainer:
    def __init__(self, model: CausalLM, opt: OptimSettings, loss: LossSettings, dist_info=None, fsdp_root: Optional[nn.Module] = None):
        """`fsdp_root`: `model` wrapped by fsdp.wrap (its parameters are then views into this rank's shards)."""
        self.model, self.opt_s, self.loss_s = model, opt, loss
        self.dist = dist_info if dist_info is not None and (dist_info.world > 1 or fsdp_root is not None) else None
        self.fsdp_root = fsdp_root
        self.policy = fsdp_root or ResponseLogprobs(model)
        # the plain layout's order: checkpoints key AdamW's moments by the index in this list
        self.names = [n.replace("_fsdp_wrapped_module.", "") for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters (LoRA with no matching targets?)")
        adamw = dict(lr=opt.lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay, **_fused_if_cuda(self.params))
        self.sharded = self.dist is not None and opt.shard_optimizer_state and fsdp_root is None
        if self.sharded:
            # Each rank steps the parameters it owns and broadcasts them; the gradients it steps with
            # are the all-reduced (full) ones, so the result equals one AdamW over everything.
            from torch.distributed.optim import ZeroRedundancyOptimizer

            self.optimizer = ZeroRedundancyOptimizer(self.params, optimizer_class=torch.optim.AdamW, **adamw)
        else:
            self.optimizer = torch.optim.AdamW(self.params, **adamw)
        self.step_count = 0
        model.gradient_checkpointing = opt.gradient_checkpointing

    def _autocast(self):
        dev = self.model.lm_head.weight.device
        if self.opt_s.autocast_bf16 and dev.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def accumulate(self, batch: List[dict]) -> Tuple[float, Dict[str, float], int]:
        """Forward/backward over the batch's micro-batches (all-reduced across ranks): leaves the
        summed, unclipped gradients in each trainable parameter's .grad and the model in train
        mode; returns (loss, per-term sums over tokens, response tokens). `step` applies them; the
        engine's `gradients` call reads them (cross-backend parity checks)."""
        if not batch:
            raise ValueError("trainStep got an empty batch")
        dev = self.model.lm_head.weight.device
        ls, os_ = self.loss_s, self.opt_s
        needs_ref = bool(ls.kl_coef)
        for i, s in enumerate(batch):
            if len(s["advantages"]) != len(s["response"]):
                raise ValueError(f"sequence {i}: {len(s['advantages'])} advantages for {len(s['response'])} response tokens")
            if needs_ref and s.get("refLogprobs") is None:
                raise ValueError(f"sequence {i}: klCoef is set but refLogprobs is missing")
        n_tokens = sum(len(s["response"]) for s in batch)
        n_seqs = sum(1 for s in batch if len(s["response"]) > 0)  # seq-mean skips empty responses, as azr/loss.ts does
        if n_tokens == 0:
            raise ValueError("trainStep batch has no response tokens")
        micro = [batch[i: i + os_.micro_batch] for i in range(0, len(batch), os_.micro_batch)]
        # data parallel: every rank gets the whole batch and takes every world-th micro-batch, so the
        # global counts above (and the micro-batch split) are those of a single rank
        share = micro if self.dist is None else micro[self.dist.rank:: self.dist.world]
        if self.fsdp_root is None:
            mine: List[Tuple[List[dict], float]] = [(mb, 1.0) for mb in share]
        else:
            # every FSDP forward and backward is a collective: a rank short of micro-batches runs one
            # again with weight 0. FSDP averages gradients over ranks; the loss here is already
            # normalised by global counts, so it is scaled by the world size to make that a sum.
            rounds = -(-len(micro) // self.dist.world)
            mine = [(mb, float(self.dist.world)) for mb in share] + [(micro[0], 0.0)] * (rounds - len(share))
        has_old = [s.get("oldLogprobs") is not None for s in batch]
        if any(has_old) and not all(has_old):
            raise ValueError("oldLogprobs must be given for every sequence of a batch or for none")
        for i, s in enumerate(batch):
            for k in ("oldLogprobs", "refLogprobs"):
                if s.get(k) is not None and len(s[k]) != len(s["response"]):
                    raise ValueError(f"sequence {i}: {len(s[k])} {k} for {len(s['response'])} response tokens")
        # every host -> device copy first (each one waits for the device), then compute with no syncs:
        # the per-token inputs of a micro-batch are one tensor each, the loss terms stay on the device
        f32 = lambda mb, k: torch.from_numpy(np.concatenate([np.asarray(s[k], dtype=np.float32) for s in mb])).to(dev)  # noqa: E731
        staged = [(_inputs([s["prompt"] for s in mb], [s["response"] for s in mb], dev), f32(mb, "advantages"),
                   f32(mb, "oldLogprobs") if has_old[0] else None, f32(mb, "refLogprobs") if needs_ref else None, mb, weight)
                  for mb, weight in mine]
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        term_keys = ["pg", "clipfrac", "approxKl", "entropy"] + (["kl"] if ls.kl_coef else [])
        sums_t = torch.zeros(len(term_keys), dtype=torch.float64, device=dev)
        loss_t = torch.zeros((), dtype=torch.float64, device=dev)
        with_entropy = True  # reported every step; its cost is one exp over the response logits
        entropy_grad = bool(ls.entropy_coef)  # without an entropy bonus it is a statistic: no graph for it
        for x, adv, old, ref, mb, weight in staged:
            with self._autocast():
                logp, ent = _run(self.policy, x, with_entropy, entropy_grad)  # (N,) over the micro-batch's response tokens
            terms = token_losses(logp, logp.detach() if old is None else old, ref, adv, ent, ls)
            if ls.agg == "token-mean":
                mb_loss = terms["loss"].sum() / n_tokens
            elif ls.agg == "microbatch-token-mean":
                # an all-empty micro-batch adds 0 (azr/loss.ts's tokenMean), not 0/0 = NaN
                mb_loss = terms["loss"].sum() / (max(1, sum(x.sizes)) * len(micro))
            else:  # seq-mean-token-mean
                means = [c.mean() for c in torch.split(terms["loss"], x.sizes) if len(c)]
                mb_loss = torch.stack(means).sum() / n_seqs if means else terms["loss"].sum()  # an all-empty micro-batch adds 0
            (mb_loss * weight).backward()
            if weight:  # a weight-0 repeat only keeps the ranks' collectives in step
                sums_t += torch.stack([terms[k].detach().sum() for k in term_keys]).double()
                loss_t += mb_loss.detach().double()
        total_loss, sums = float(loss_t), dict(zip(term_keys, sums_t.tolist()))
        if self.dist is not None:
            from .distributed import all_reduce_floats, all_reduce_grads

            if self.fsdp_root is None:  # FSDP reduce-scattered them in each backward
                all_reduce_grads(self.params)
            reduced = all_reduce_floats([total_loss] + [sums[k] for k in term_keys], dev)
            total_loss, sums = reduced[0], dict(zip(term_keys, reduced[1:]))
        return total_loss, sums, n_tokens

    def step(self, batch: List[dict]) -> dict:
        total_loss, sums, n_tokens = self.accumulate(batch)
        os_ = self.opt_s
        if self.fsdp_root is not None:  # FSDP's own clip sums the squares over every rank's shards
            grad_norm = float(self.fsdp_root.clip_grad_norm_(os_.max_grad_norm))
        else:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, os_.max_grad_norm))
        lr = lr_at(os_, self.step_count)
        skipped = not math.isfinite(grad_norm)
        if not skipped:
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.eval()
        self.step_count += 1
        terms = {k: v / n_tokens for k, v in sums.items()}
        terms["skipped"] = 1.0 if skipped else 0.0
        return {"step": self.step_count, "loss": total_loss, "gradNorm": grad_norm, "lr": lr, "tokens": n_tokens, "terms": terms,
                "optimizerStateBytes": self.optimizer_state_bytes()}

    def optimizer_state_bytes(self) -> int:
        """Bytes of optimiser moments this rank holds (its share when sharded)."""
        local = self.optimizer.optim if self.sharded else self.optimizer
        return sum(v.numel() * v.element_size() for st in local.state.values() for v in st.values()
                   if torch.is_tensor(v) and v.dim() > 0)

    def full_optimizer_state(self) -> Optional[dict]:
        """The whole optimiser state as a plain AdamW state dict (loadable by one rank or any world
        size), on rank 0; None on the other ranks. Sharded, this is a collective: every rank calls it,
        and the shards travel one at a time to rank 0's host memory."""
        if self.fsdp_root is not None:
            from .fsdp import full_optimizer_state

            return full_optimizer_state(self.fsdp_root, self.optimizer, self.names)
        if self.sharded:
            self.optimizer.consolidate_state_dict(to=0)
        if self.dist is not None and self.dist.rank != 0:
            return None
        return self.optimizer.state_dict()

    def load_optimizer_state(self, plain: Optional[dict]) -> None:
        """A plain AdamW state (full_optimizer_state's layout). Under FSDP a collective in which only
        rank 0 needs the state (None elsewhere); otherwise every rank passes it."""
        # load_state_dict adopts the saved param_groups' settings, the saver's kernel choice among them
        # (a CUDA trainer's fused=True on a CPU resume, a CPU one's none on CUDA): keep this trainer's
        kernel = [{k: g[k] for k in ("fused", "foreach") if k in g} for g in self.optimizer.param_groups]
        if plain is not None and len(plain.get("param_groups", [])) == len(kernel):
            # set before loading, so torch places AdamW's step counters as this kernel wants (fused: on the parameter's device)
            plain = {**plain, "param_groups": [{**g, **own} for g, own in zip(plain["param_groups"], kernel)]}
        self._load_optimizer_state(plain)
        for g, own in zip(self.optimizer.param_groups, kernel):
            g.update(own)

    def _load_optimizer_state(self, plain: Optional[dict]) -> None:
        if self.fsdp_root is not None:
            from .fsdp import load_optimizer_state

            load_optimizer_state(self.fsdp_root, self.optimizer, self.names, plain)
        else:
            self.optimizer.load_state_dict(plain)
