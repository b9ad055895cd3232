"""PyTorch (float64 autograd) forward and backward of each op case, for test/train/ops.test.ts.
stdin: {"cases": [{"expr": "a @ b", "inputs": [{"data", "shape", "dtype", "grad"}], "r": [...]}]}
stdout: {"results": [{"y": [...], "grads": [[...] | null, ...]}]}; each case's loss is sum(y * r).
"""
import json
import sys

import torch

DT = {"float64": torch.float64, "float32": torch.float32, "int64": torch.int64, "bool": torch.bool}
req = json.load(sys.stdin)
results = []
for case in req["cases"]:
    env = {"torch": torch, "F": torch.nn.functional}
    ts = []
    for name, spec in zip("abcdefgh", case["inputs"]):
        t = torch.tensor(spec["data"], dtype=DT[spec["dtype"]]).reshape(spec["shape"])
        if spec["grad"]:
            t.requires_grad_(True)
        env[name] = t
        ts.append(t)
    y = eval(case["expr"], env)
    r = torch.tensor(case["r"], dtype=y.dtype).reshape(y.shape)
    (y * r).sum().backward()
    results.append({
        "y": y.detach().double().flatten().tolist(),
        "grads": [None if t.grad is None else t.grad.double().flatten().tolist() for t in ts],
    })
json.dump({"results": results}, sys.stdout)
