#!/usr/bin/env bash
# Packs what a GPU machine without Node.js needs to run a whole azr recipe (the GPU machines lent to
# this project have PyTorch, transformers and CUDA, but no Node, npm or nats-server, and fetch
# nothing): .gpu-bundle/ holds node (xz), nats-server (xz) and the production node_modules pruned to
# linux-x64 (tar.xz), ~50 MB, small enough to travel with the working tree (the device tool's
# 64 MiB). model/torch/gpu_recipe_run.sh unpacks it there and runs the recipe.
# Usage: make gpu-bundle   (then carry .gpu-bundle to the GPU machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu-bundle
work=$(mktemp -d /tmp/azr-gpu-bundle.XXXXXX)
trap 'rm -rf "$work"' EXIT
node_bin=$(command -v node)
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$nats_bin" ] || { echo "gpu-bundle: nats-server not found (make setup installs it)" >&2; exit 1; }
[ -f node_modules/node-pty/build/Release/pty.node ] || { echo "gpu-bundle: node_modules/node-pty is not built here (run make setup first)" >&2; exit 1; }

echo "gpu-bundle: production node_modules (npm ci --omit=dev) ..."
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
nm="$work/node_modules"
# the GPU machines are x86-64 Linux: other platforms' native binaries stay behind
rm -rf "$nm"/onnxruntime-node/bin/napi-v*/{darwin,win32} "$nm"/onnxruntime-node/bin/napi-v*/linux/arm64
find "$nm/node-pty/prebuilds" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} + 2>/dev/null || true
# node-pty has no linux prebuild: its install script compiles it; take the one `make setup` built here
mkdir -p "$nm/node-pty/build/Release" && cp node_modules/node-pty/build/Release/pty.node "$nm/node-pty/build/Release/"

rm -rf "$out" && mkdir -p "$out"
echo "gpu-bundle: compressing ..."
(cd "$work" && tar -cf - node_modules) | xz -T0 -6 > "$out/node_modules.tar.xz"
xz -T0 -9 -c "$node_bin" > "$out/node.xz"
xz -T0 -9 -c "$nats_bin" > "$out/nats-server.xz"
echo "node $(node --version), $("$nats_bin" --version 2>/dev/null | head -1)" > "$out/VERSIONS"
du -sh "$out"/* | sed 's/^/gpu-bundle: /'
echo "gpu-bundle: $(du -sh "$out" | cut -f1) in $out; the working tree that travels with it: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes"
