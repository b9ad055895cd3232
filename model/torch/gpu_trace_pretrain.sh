#!/usr/bin/env bash
# On a lent GPU: pretrain the tiny model on the trace corpus with data/tiny's own schedule (4,832 steps
# of 131,072 padded tokens, lr 3e-3, warm-up 200, seed 1, data/tiny's config and tokenizer), so the
# one difference from data/tiny is that deduction examples think f's execution (make-corpus --think
# trace). Writes config.json, model.safetensors and the tokenizer to $OUT/trace-base for `azr eval`
# where Node is. The token files are built where Node is, then carried (ignored path .tok-trace):
#   node --import tsx actors/base-model/make-corpus.ts --out runs/base-model/corpus-200k-trace --programs 200000 \
#     --runner harness --heldout-match text --think trace --tokenizer data/tiny/tokenizer.json
#   node --import tsx actors/base-model/export-tokens.ts --corpus runs/base-model/corpus-200k-trace --out .tok-trace
# Usage: bash model/torch/gpu_trace_pretrain.sh [tokens dir]   (STEPS, WARMUP, BATCH_TOKENS, DEVICE, AZR_PYTHON for a CPU dry run)
set -euo pipefail
cd "$(dirname "$0")/../.."
tok=${1:-.tok-trace}
[ -f "$tok/tokens.json" ] || { echo "gpu_trace_pretrain: $tok/tokens.json is missing: build the token files (commands at the top of $0) and carry $tok" >&2; exit 1; }
out=${OUT:-/tmp}/trace-base
work=$(mktemp -d /tmp/trace-work.XXXX)
device_args=()
[ -n "${DEVICE:-}" ] && device_args=(--device "$DEVICE")
PYTHONPATH=$PWD/model/torch PYTHONUNBUFFERED=1 "${AZR_PYTHON:-python3}" -m azr_torch.pretrain --tokens "$tok" --config data/tiny/config.json \
  --out "$out" --work-dir "$work" --steps "${STEPS:-4832}" --batch-tokens "${BATCH_TOKENS:-131072}" --lr 3e-3 --warmup "${WARMUP:-200}" --seed 1 "${device_args[@]}"
cp data/tiny/tokenizer.json data/tiny/tokenizer_config.json "$out/"
echo "gpu_trace_pretrain: model in $out"
