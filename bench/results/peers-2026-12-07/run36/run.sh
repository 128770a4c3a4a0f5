#!/bin/bash
# Stop 37 on the same 2-vCPU AMD EPYC Zen 3 (AVX2, no AVX-512) as run35, after the padded kept
# copies of declared float32 weights and the vectorised AVX2 GELU: the embed suite (ViT-B/16 at
# batches 1 and 8) with the peers in float32, no device record. One run into run36/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run36/${1:?run name}
mkdir -p $out
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
