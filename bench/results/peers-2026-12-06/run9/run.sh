#!/bin/bash
# Side by side: clippo and the peers on this machine (2-vCPU AMD EPYC), engine at 92c6955; one
# side-by-side run into run9/$1 (a, b, c: three runs in a row, the machine being noisy).
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-06/run9/${1:?run name}
./build/clippo bench --suite embed,train --variants b16 --batches 1,8 --runs 5 --no-pytorch \
    --device 0:0 --out $out/fp32
CLIPPO_PRECISION=int8 ./build/clippo bench --suite embed --variants b16 --batches 1,8 \
    --runs 5 --no-pytorch --no-peers --device 0:0 --out $out/int8
CLIPPO_PRECISION=bf16 ./build/clippo bench --suite embed --variants b16 --batches 1,8 \
    --runs 5 --no-pytorch --no-peers --device 0:0 --out $out/bf16
./build/clippo bench --suite gemm --runs 5 --no-pytorch --no-peers --device 0:0 --out $out/gemm
