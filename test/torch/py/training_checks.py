"""Checks of azr_torch.training's learner step, run by test/torch/training-checks.test.ts (one JSON
line per check: {"check", "ok", "detail"}). Usage: PYTHONPATH=model/torch python3 test/torch/py/training_checks.py <model dir>"""
from __future__ import annotations

import copy
import inspect
import json
import math
import sys
import traceback

import numpy as np
import torch

from azr_torch import training
from azr_torch.loading import load_model
from azr_torch.modeling import causal_keep

torch.set_num_threads(1)
MODEL_DIR = sys.argv[1]
_, BASE = load_model(MODEL_DIR, torch.device("cpu"), torch.float32)


def make_batch(seed: int, n: int, empties=()):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = rng.integers(1, 250, int(rng.integers(1, 9))).tolist()
        r = [] if i in empties else rng.integers(1, 250, int(rng.integers(2, 12))).tolist()
        out.append({"prompt": p, "response": r, "advantages": rng.normal(size=len(r)).astype(np.float32),
                    "oldLogprobs": (rng.normal(size=len(r)) * 0.5 - 5.5).astype(np.float32), "refLogprobs": None})
    return out


def trainer(agg: str, micro: int, entropy_coef: float = 0.0, ckpt: bool = False):
    ls = training.LossSettings()
    ls.agg, ls.entropy_coef = agg, entropy_coef
    opt = training.OptimSettings()
    opt.lr, opt.micro_batch, opt.gradient_checkpointing = 1e-3, micro, ckpt
    return training.Trainer(copy.deepcopy(BASE), opt, ls)


def check_microbatch_mean_empty_microbatch():
    """microbatch-token-mean: a micro-batch whose responses are all empty adds 0 to the loss (azr/loss.ts's
    tokenMean of an empty micro-batch), not 0/0 = NaN."""
    batch = make_batch(1, 6, empties=(2, 3))  # micro-batches of 2: the second has no response tokens
    t = trainer("microbatch-token-mean", 2)
    loss, _, _ = t.accumulate(batch)
    # the reference: each micro-batch's token mean (0 for an empty one) over the number of micro-batches
    with torch.no_grad():
        logps, _ = training.response_logprobs(t.model, [s["prompt"] for s in batch], [s["response"] for s in batch])
    ref = 0.0
    for m in range(3):
        mb = list(range(2 * m, 2 * m + 2))
        toks = [training.token_losses(logps[i], torch.from_numpy(batch[i]["oldLogprobs"]), None, torch.from_numpy(batch[i]["advantages"]),
                                      None, t.loss_s)["loss"] for i in mb]
        n = sum(len(x) for x in toks)
        ref += (float(sum(x.sum() for x in toks)) / n if n else 0.0) / 3
    grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in t.params if p.grad is not None)
    return math.isfinite(loss) and abs(loss - ref) < 1e-5 and grads_finite, {"loss": loss, "reference": ref, "gradsFinite": grads_finite}


def check_seq_mean_empty_microbatch():
    """seq-mean-token-mean with an all-empty micro-batch: same gradients as the batch without it."""
    batch = make_batch(2, 6, empties=(2, 3))
    a, b = trainer("seq-mean-token-mean", 2), trainer("seq-mean-token-mean", 2)
    la, _, _ = a.accumulate(batch)
    lb, _, _ = b.accumulate([s for i, s in enumerate(batch) if i not in (2, 3)])
    d = max(float((p.grad - q.grad).abs().max()) for p, q in zip(a.params, b.params))
    return abs(la - lb) < 1e-6 and d < 1e-6, {"lossWith": la, "lossWithout": lb, "gradDiff": d}


def check_lm_head_chunks():
    """Chunked lm_head (checkpointed per chunk) with a report-only entropy and with an entropy bonus,
    with layer checkpointing: the loss, entropy and gradients of one unchunked pass."""
    batch = make_batch(3, 5)
    out = {}
    ok = True
    for coef in (0.0, 0.01):
        res = []
        for chunk in (10**6, 3):
            old = training.LOGITS_CHUNK
            training.LOGITS_CHUNK = chunk
            try:
                t = trainer("token-mean", 5, coef, ckpt=True)
                loss, sums, _ = t.accumulate(batch)
                res.append((loss, sums["entropy"], [p.grad.clone() for p in t.params]))
            finally:
                training.LOGITS_CHUNK = old
        d = max(float((p - q).abs().max()) for p, q in zip(res[0][2], res[1][2]))
        out[str(coef)] = {"loss": [res[0][0], res[1][0]], "entropy": [res[0][1], res[1][1]], "gradDiff": d}
        ok = ok and abs(res[0][0] - res[1][0]) < 1e-6 and abs(res[0][1] - res[1][1]) < 1e-3 and d < 1e-6
    return ok, out


def check_causal_without_mask():
    """keep=None (causal only) on right-padded rows of different lengths: every real position's logits
    equal those under the explicit causal + padding mask."""
    m = BASE
    rng = np.random.default_rng(4)
    lens = [3, 11, 7, 1]
    T = max(lens)
    ids = torch.tensor([rng.integers(1, 250, n).tolist() + [0] * (T - n) for n in lens])
    pos = torch.arange(T)[None].expand(len(lens), T)
    with torch.no_grad():
        a = m.logits(m.hidden_states(ids, pos, None))
        b = m.logits(m.hidden_states(ids, pos, causal_keep(T, ids.device, torch.tensor(lens))))
    d = max(float((a[i, :n] - b[i, :n]).abs().max()) for i, n in enumerate(lens))
    return d == 0.0, {"maxDiff": d}


def check_optimizer_flags_survive_load():
    """A training state saved by a fused AdamW (CUDA) resumes in a trainer built without it (CPU) and the
    reverse: the moments load, the optimiser keeps its own kernel choice (the loaded param_groups
    carry the saver's `fused`, which load_state_dict would otherwise adopt)."""
    if "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return None, {"skipped": f"torch {torch.__version__} has no fused AdamW"}
    batch = make_batch(5, 4)
    t = trainer("token-mean", 4)
    t.step(batch)
    plain = t.full_optimizer_state()
    fused_like = copy.deepcopy(plain)
    for g in fused_like["param_groups"]:
        g["fused"] = True  # what a CUDA trainer (_fused_if_cuda) writes
    u = trainer("token-mean", 4)
    before = [g.get("fused") for g in u.optimizer.param_groups]
    u.load_optimizer_state(fused_like)
    after = [g.get("fused") for g in u.optimizer.param_groups]
    same_moments = all(torch.equal(u.optimizer.state[p]["exp_avg"], t.optimizer.state[q]["exp_avg"]) for p, q in zip(u.params, t.params))
    return before == after and same_moments, {"before": before, "after": after, "sameMoments": same_moments}


for name, fn in list(globals().items()):
    if name.startswith("check_"):
        try:
            ok, detail = fn()
        except Exception:  # noqa: BLE001
            ok, detail = False, {"error": traceback.format_exc()}
        print(json.dumps({"check": name[6:], "ok": ok, "detail": detail}), flush=True)
