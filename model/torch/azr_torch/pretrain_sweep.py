"""Several pretraining variants side by side on one GPU, for the same wall-clock budget each.

    python3 -m azr_torch.pretrain_sweep --tokens DIR --base-config config.json --out DIR --seconds S \\
        --variant a:lr=3e-3 --variant deep:num_hidden_layers=6,lr=3e-3

A tiny model leaves most of a GPU idle (its kernels are small), so variants run as concurrent
processes: one lease of a lent GPU compares learning rates or depths. Each variant is one
`azr_torch.pretrain` run (its log in OUT/NAME.log, its model in OUT/NAME/); the table at the end
lists each one's steps, tokens, throughput and validation loss (the same held-out examples for all).
Keys: any config.json field (ints) plus lr, batch_tokens, warmup (training options).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

TRAIN_KEYS = {"lr": float, "batch_tokens": int, "warmup": int}


def parse_variant(spec: str):
    name, _, rest = spec.partition(":")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SystemExit(f"--variant {spec!r}: start with a name of letters, digits, - or _, e.g. deep:num_hidden_layers=6")
    config, train = {}, {}
    for kv in filter(None, rest.split(",")):
        k, _, v = kv.partition("=")
        if k in TRAIN_KEYS:
            train[k] = TRAIN_KEYS[k](v)
        else:
            try:
                config[k] = int(v)
            except ValueError:
                raise SystemExit(f"--variant {spec!r}: {k}={v} is not an integer config field or one of {sorted(TRAIN_KEYS)}")
    return name, config, train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", required=True)
    p.add_argument("--base-config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, required=True, help="training budget of each variant")
    p.add_argument("--variant", action="append", required=True, help="NAME:key=value,... (see above)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    with open(a.base_config) as f:
        base = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    procs = []
    for spec in a.variant:
        name, config, train = parse_variant(spec)
        cfg = {**base, **config}
        if "hidden_size" in config and "head_dim" not in config:
            cfg["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
        cfg_path = os.path.join(a.out, f"{name}.config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        cmd = [sys.executable, "-m", "azr_torch.pretrain", "--tokens", a.tokens, "--config", cfg_path,
               "--out", os.path.join(a.out, name), "--work-dir", os.path.join(a.out, f"{name}.work"),
               "--seconds", str(a.seconds), "--seed", str(a.seed), "--save-every", "1000000"]
        for k, v in train.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        log = open(os.path.join(a.out, f"{name}.log"), "w")
        print(f"{name}: {' '.join(cmd[1:])}", flush=True)
        procs.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}), log))
    t0 = time.time()
    rows = []
    for name, proc, log in procs:
        rc = proc.wait()
        log.close()
        summary_path = os.path.join(a.out, name, "pretraining.json")
        if rc != 0 or not os.path.exists(summary_path):
            with open(os.path.join(a.out, f"{name}.log")) as f:
                tail = f.read()[-2000:]
            print(f"{name}: FAILED (exit {rc})\n{tail}", flush=True)
            continue
        with open(summary_path) as f:
            rows.append((name, json.load(f)))
    print(f"\nall variants done in {time.time() - t0:.0f} s", flush=True)
    print(f"{'variant':<12} {'params':>9} {'steps':>7} {'epochs':>7} {'tokens':>13} {'tok/s':>11} {'train loss':>10} {'val loss':>9}")
    for name, s in rows:
        print(f"{name:<12} {s['parameters']:>9,} {s['step']:>7} {s['epochs']:>7.2f} {s['tokens']:>13,} "
              f"{s['tokens'] / max(s['seconds'], 1e-9):>11,.0f} {s['loss']:>10.4f} {s['validationLoss']:>9.4f}")
    return 0 if len(rows) == len(procs) else 1


if __name__ == "__main__":
    sys.exit(main())
