#!/bin/bash
# The embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, after
# B/16's attention moved to the fused kernel per (image, head) (2c808b5). One run into run15/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run15/${1:?run name}
case $1 in int8*) export CLIPPO_PRECISION=int8 ;; esac
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out
# int8: the same suite with the engine's products in int8 (CLIPPO_PRECISION=int8, oneDNN with
# dynamic per-row activation scales, per-channel weight scales), beside ONNX Runtime int8:
# run.sh int8-a
