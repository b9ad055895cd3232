#!/usr/bin/env bash
# On a GPU machine with PyTorch but no Node.js: unpack .gpu-bundle (make gpu-bundle) and run a whole
# self-play recipe on the GPU through the actors — rollout engine, learner, weight sync, executor —
# as `azr selfplay` runs it anywhere. Prints the run's metrics lines and writes the run folder's
# metrics to $OUT when set (the device tool brings $OUT back).
#   bash model/torch/gpu_recipe_run.sh [steps] [extra --set key=value ...]
# Default: the tiny recipe on the torch engine, one GPU shared by the rollout engine and learner
# (bf16 rollout, fp32 + autocast learner), 3 steps, no in-training evaluation.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-3}
shift || true
b=.gpu-bundle
[ -f "$b/node.xz" ] || { echo "gpu_recipe_run: $b is missing: run make gpu-bundle where Node is, and carry $b" >&2; exit 1; }
bin=/tmp/azr-gpu-bin
mkdir -p "$bin"
[ -x "$bin/node" ] || xz -dc "$b/node.xz" > "$bin/node"
[ -x "$bin/nats-server" ] || xz -dc "$b/nats-server.xz" > "$bin/nats-server"
chmod +x "$bin/node" "$bin/nats-server"
[ -d node_modules/tsx ] || tar -xJf "$b/node_modules.tar.xz"
export PATH="$bin:$PATH" AZR_PYTHON="${AZR_PYTHON:-$(command -v python3)}" PYTHONUNBUFFERED=1
echo "gpu_recipe_run: node $(node --version), python $AZR_PYTHON, $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
run=runs/gpu-recipe-$(date +%H%M%S)
start=$(date +%s)
set +e
# GPU_SETS: the GPU placement (a CPU dry run of this script passes GPU_SETS="--set model.dtype=fp32")
gpu_sets=${GPU_SETS:---set model.dtype=bf16 --set resources.gpus=1 --set actors.rollout-engine.gpus=1 --set actors.learner.gpus=1}
# shellcheck disable=SC2086
node --import tsx cli/main.ts selfplay --recipe tiny --run-dir "$run" --steps "$steps" \
  --set model.engine=torch $gpu_sets --set eval.every=0 "$@"
rc=$?
set -e
echo "gpu_recipe_run: exit $rc after $(( $(date +%s) - start )) s"
if [ -f "$run/metrics.jsonl" ]; then
  python3 - "$run/metrics.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    t, w = m.get("train") or {}, m.get("weightSync") or {}
    s = m.get("seconds") or {}
    phases = ", ".join(f"{k} {v:.1f}" for k, v in s.items() if k != "total")
    gpu = ", ".join(f"{a} {u['gpuPeakMemoryMB']} MB" for a, u in (m.get("actors") or {}).items() if "gpuPeakMemoryMB" in u)
    print(f"step {m['step']}: {s.get('total', 0):.1f} s ({phases}), loss {t.get('loss')}, "
          f"weight sync {w.get('transport')} {w.get('bytes')} B in {w.get('totalMs', 0):.0f} ms, "
          f"GPU reserved: {gpu or 'none reported'}")
EOF
  [ -n "${OUT:-}" ] && cp "$run/metrics.jsonl" "$OUT/gpu-recipe-metrics.jsonl"
fi
exit $rc
