#!/bin/sh
# A second, newer PyTorch for testing the torch engine on this CPU machine: Debian bookworm ships
# torch 1.13, which cannot run FSDP on CPU ranks (test/torch/fsdp.test.ts skips there). This builds
# Debian trixie (torch 2.6, Python 3.13) in $ROOT with debootstrap and writes $ROOT.python, a
# wrapper that runs trixie's python3 in a bubblewrap view of it (this checkout, /work, /home, /root,
# /tmp, /dev/shm and the network shared with the host), for AZR_PYTHON. Needs root, ~1.6 GB and the Debian mirror; idempotent.
set -eu
ROOT=${1:-/opt/azr-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3-torch,python3-numpy,python3-msgpack
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if ! chroot "$ROOT" dpkg -s python3-torch python3-numpy python3-msgpack >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap bubblewrap >/dev/null
  echo "building Debian trixie with $PACKAGES in $ROOT (a few minutes)"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase --include=$PACKAGES trixie "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || { tail -20 "$ROOT.log"; exit 1; }
fi
# (--dev before the /dev/shm bind: a later --dev would hide it, and weight sync files live there)
cat >"$ROOT.python" <<WRAP
#!/bin/sh
exec bwrap --bind $ROOT / --bind-try $REPO $REPO --bind-try /work /work --bind-try /home /home --bind-try /root /root \\
  --bind /tmp /tmp --dev /dev --bind /dev/shm /dev/shm --proc /proc --die-with-parent --chdir "\$(pwd)" /usr/bin/python3 "\$@"
WRAP
chmod +x "$ROOT.python"
"$ROOT.python" -c "import torch; print('torch', torch.__version__, 'at', '$ROOT.python: AZR_PYTHON=$ROOT.python make test-torch-next')"
