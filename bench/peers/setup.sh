#!/usr/bin/env bash
# Makes the peers' Python virtual environment (bench/peers/.venv) from PyPI: ONNX Runtime,
# OpenVINO, onnx and numpy, and PyTorch 2 with torchvision unless --no-torch (a large download);
# then exports torchvision's ViT-B/16 to ONNX (bench/peers/.cache/vit_b16.onnx) with its int8
# dynamic quantisation. Idempotent. The environment is reported by the benchmarks, never changed.
#
#   bash bench/peers/setup.sh [--no-torch]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
torch=1
[ "${1:-}" = --no-torch ] && torch=0
python3 -m venv --help >/dev/null 2>&1 || { echo "setup.sh: python3 venv is missing (apt-get install python3-venv)" >&2; exit 1; }
[ -x "$here/.venv/bin/python" ] || python3 -m venv "$here/.venv"
pkgs=(onnxruntime openvino onnx numpy)
[ "$torch" = 1 ] && pkgs+=(torch torchvision onnxscript)
"$here/.venv/bin/pip" install -q --upgrade "${pkgs[@]}"
if [ "$torch" = 1 ] && [ ! -f "$here/.cache/vit_b16_int8.onnx" ]; then
  "$here/.venv/bin/python" "$here/peers.py" export --dir "$here/.cache"
fi
"$here/.venv/bin/python" "$here/peers.py" versions
