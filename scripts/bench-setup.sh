#!/usr/bin/env bash
# Installs what `npm run bench` needs for its comparison sides, and only what is missing:
#   - Debian's PyTorch (python3-torch) for /usr/bin/python3: the PyTorch twin and the ONNX export.
#     (torch.onnx.export in Debian's torch 1.13 writes ONNX without the `onnx` Python module.)
#   - onnxruntime-node (a devDependency) for the ONNX Runtime side. Its postinstall script only downloads
#     CUDA provider libraries and is denied in package.json's allowScripts; the CPU runtime is in the package.
# Not part of CI. apt-get needs root. Exits 0 when everything is there; otherwise non-zero, naming what is missing.
#
# Usage: scripts/bench-setup.sh [--check]     (--check: report only, install nothing)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1

log() { echo "[bench-setup] $*" >&2; }
have_torch() { "$PYTHON" -c 'import torch' >/dev/null 2>&1; }
have_ort() { node -e "require('onnxruntime-node')" >/dev/null 2>&1; }

missing=0

if have_torch; then
  log "PyTorch: $("$PYTHON" -c 'import torch; print(torch.__version__)') (Debian python3-torch)"
elif [[ $check_only == 1 ]]; then
  log "PyTorch: missing (apt-get install -y python3-torch)"; missing=1
elif [[ $(id -u) != 0 ]]; then
  log "PyTorch: missing, and installing python3-torch needs root: sudo apt-get install -y python3-torch"; missing=1
else
  log "PyTorch: installing python3-torch with apt-get (several minutes)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show python3-torch >/dev/null 2>&1; then
    apt-get update -qq >&2
  fi
  if ! apt-get install -y -qq --no-install-recommends python3-torch >&2 || ! have_torch; then
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends python3-torch >&2 || true
  fi
  if have_torch; then log "PyTorch: installed"; else log "PyTorch: install failed"; missing=1; fi
fi

if have_ort; then
  log "onnxruntime-node: $(node -p "require('onnxruntime-node/package.json').version")"
elif [[ $check_only == 1 ]]; then
  log "onnxruntime-node: missing (npm install)"; missing=1
else
  version=$(node -p "require('./package.json').devDependencies['onnxruntime-node'] ?? 'latest'")
  log "onnxruntime-node: installing onnxruntime-node@$version (no install scripts)"
  npm install --no-save --ignore-scripts "onnxruntime-node@$version" >&2 || true
  if have_ort; then log "onnxruntime-node: installed"; else log "onnxruntime-node: install failed"; missing=1; fi
fi

exit $missing
