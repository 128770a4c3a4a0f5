#!/bin/bash
# Stop 37 on a 2-vCPU AMD EPYC Zen 3 (family 25 model 1: AVX2 and FMA, no AVX-512, no VNNI), the
# first run of the suites on a CPU without AVX-512, at 7f9c3ac, with no device record (no
# `clippo tune`: the defaults a new user gets): the train suite beside the PyTorch twins, the
# embed suite (ViT-B/16 at batches 1 and 8) with the peers in float32, then in int8
# (CLIPPO_PRECISION=int8: 7-bit weights on this CPU) beside ONNX Runtime int8. One run into
# run35/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run35/${1:?run name}
mkdir -p $out
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
CLIPPO_PRECISION=int8 ./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 \
  --no-pytorch --device 0:0 --out $out/embed-int8
