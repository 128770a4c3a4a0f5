#!/bin/bash
# Stop 38 on the 2-vCPU AMD EPYC Zen 3 of run35/run36 (AVX2 and FMA, no AVX-512, no VNNI), at
# 08199b2 (int8's A shifted to u8 with the shift taken off after the matmul; declared int8 copies
# cut by columns), no device record: the train suite beside the PyTorch twins, the embed suite
# (ViT-B/16 at batches 1 and 8) with the peers in float32, then in int8 (CLIPPO_PRECISION=int8)
# beside ONNX Runtime int8. One run into run37/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run37/${1:?run name}
mkdir -p $out
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
CLIPPO_PRECISION=int8 ./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 \
  --no-pytorch --device 0:0 --out $out/embed-int8
