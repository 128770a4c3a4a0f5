#!/bin/bash
# Side by side: clippo and the peers on this machine (as ../run6), engine at 01e0610.
set -e
cd "$(dirname "$0")/../../../.."
./build/clippo bench --suite embed,train --variants b16 --batches 1,8 --runs 5 --no-pytorch \
    --device 0:0 --out bench/results/peers-2026-12-06/run8/fp32
CLIPPO_PRECISION=int8 ./build/clippo bench --suite embed --variants b16 --batches 1,8 \
    --runs 5 --no-pytorch --no-peers --device 0:0 --out bench/results/peers-2026-12-06/run8/int8
CLIPPO_PRECISION=bf16 ./build/clippo bench --suite embed --variants b16 --batches 1,8 \
    --runs 5 --no-pytorch --no-peers --device 0:0 --out bench/results/peers-2026-12-06/run8/bf16
./build/clippo bench --suite gemm --runs 5 --no-pytorch --no-peers --device 0:0 --out bench/results/peers-2026-12-06/run8/gemm
