"""PyTorch references for test/train: whole-model loss and gradients (float64 autograd), and
torch.optim.AdamW on a given gradient sequence.

The model forward is test/model/reference_forward.py's (written independently of azr's graphs);
its module-level `main()` call is cut off so it can be reused here as a library.
stdin: {"mode": "grad", "dir", "batch": [{prompt, response, advantages?, old?, ref?, lossWeights?}], "loss": {...}}
    -> {"loss", "terms": {...}, "grads": {name: [...]}, "logprobs": [[...]]}
stdin: {"requests": [req, ...]} -> {"results": [answer, ...]}
stdin: {"mode": "adamw", "params": {name: [...]}, "grads": [{name: [...]}, ...], "optim": {...}}
    -> {"params": {name: [...]}, "norms": [...]}
"""
import json
import os
import sys

import torch

src = open(os.path.join(os.path.dirname(__file__), "..", "model", "reference_forward.py")).read()
exec(src[: src.rindex("main()")])  # defines read_safetensors, forward, ...


def grad_mode(req):
    cfg = json.load(open(req["dir"] + "/config.json"))
    W = read_safetensors(req["dir"] + "/model.safetensors")  # noqa: F821 (from the exec above)
    for t in W.values():
        t.requires_grad_(True)
    ls = req["loss"]
    batch = req["batch"]
    n_tokens = sum(len(s["response"]) for s in batch)
    n_seqs = sum(1 for s in batch if s["response"])
    total = torch.zeros((), dtype=torch.float64)
    sums = {}
    logps = []
    for s in batch:
        if not s["response"]:  # nothing to learn from (and no token to average over)
            logps.append([])
            continue
        ids = s["prompt"] + s["response"]
        logits = forward(cfg, W, ids)  # noqa: F821
        P = len(s["prompt"])
        la = torch.log_softmax(logits[P - 1: P - 1 + len(s["response"])], -1)
        tgt = torch.tensor(s["response"], dtype=torch.long)
        logp = la[torch.arange(len(tgt)), tgt]
        logps.append(logp.detach().tolist())
        if ls["kind"] == "cross-entropy":
            lw = torch.tensor(s.get("lossWeights") or [1.0] * len(tgt), dtype=torch.float64)
            nll = -logp
            total = total + (nll * lw).sum()
            sums["ce"] = sums.get("ce", 0.0) + float(nll.sum())
            continue
        adv = torch.tensor(s["advantages"], dtype=torch.float64)
        old = torch.tensor(s["old"], dtype=torch.float64) if s.get("old") is not None else logp.detach()
        ratio = torch.exp(torch.clamp(logp - old, -20.0, 20.0))
        unclipped = -adv * ratio
        clipped = -adv * torch.clamp(ratio, 1 - ls["epsLow"], 1 + ls["epsHigh"])
        pg = torch.maximum(unclipped, clipped)
        if ls.get("dualClip") is not None:
            pg = torch.where(adv < 0, torch.minimum(pg, -adv * ls["dualClip"]), pg)
        ent = -(la.exp() * la).sum(-1)
        tok = pg
        terms = {"pg": pg, "clipfrac": (clipped > unclipped).double(), "approxKl": 0.5 * (logp - old).detach() ** 2, "entropy": ent}
        if ls["klCoef"]:
            d = logp - torch.tensor(s["ref"], dtype=torch.float64)
            kl = {"k1": d, "k2": 0.5 * d * d, "k3": torch.exp(-d) + d - 1}[ls["klEstimator"]]
            terms["kl"] = kl
            tok = tok + ls["klCoef"] * kl
        tok = tok - ls["entropyCoef"] * ent
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach().sum())
        if ls["lossAgg"] == "token-mean":
            total = total + tok.sum() / n_tokens
        elif ls["lossAgg"] == "seq-mean-token-mean":
            total = total + tok.mean() / n_seqs
        else:
            raise ValueError("the reference covers token-mean and seq-mean-token-mean")
    if ls["kind"] == "cross-entropy":
        lw_total = sum(sum(s.get("lossWeights") or [1.0] * len(s["response"])) for s in batch)
        total = total / lw_total
    total.backward()
    return {
        "loss": float(total),
        "terms": {k: v / n_tokens for k, v in sums.items()},
        "grads": {k: t.grad.flatten().tolist() for k, t in W.items() if t.grad is not None},
        "logprobs": logps,
    }


def adamw_mode(req):
    o = req["optim"]
    params = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in req["params"].items()}
    opt = torch.optim.AdamW(list(params.values()), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"])
    norms = []
    for step in req["grads"]:
        for k, p in params.items():
            p.grad = torch.tensor(step[k], dtype=torch.float32)
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), o["maxGradNorm"])))
        opt.step()
    return {"params": {k: p.detach().tolist() for k, p in params.items()}, "norms": norms}


def run(req):
    return grad_mode(req) if req["mode"] == "grad" else adamw_mode(req)


req = json.load(sys.stdin)
# {"requests": [...]} answers several in one process (torch's import is the slow part).
json.dump({"results": [run(r) for r in req["requests"]]} if "requests" in req else run(req), sys.stdout)
