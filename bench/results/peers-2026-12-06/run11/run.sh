#!/bin/bash
# Side by side: clippo and the peers on this machine (2-vCPU AMD EPYC, Zen 4: family 25, model 17),
# where the peers run before and again after clippo's rows (each keeps its faster pass), and the
# planned B/16 batch-1 embedding and training forward + backward broken down by step (--profile,
# after their timed rows). One run into run11/$1 (a, b: two runs in a row).
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-06/run11/${1:?run name}
./build/clippo bench --suite embed,train --variants b16 --batches 1,8 --runs 5 --no-pytorch \
    --profile --device 0:0 --out $out/fp32
CLIPPO_PRECISION=int8 ./build/clippo bench --suite embed --variants b16 --batches 1,8 \
    --runs 5 --no-pytorch --device 0:0 --out $out/int8
./build/clippo bench --suite gemm --runs 5 --no-pytorch --no-peers --device 0:0 --out $out/gemm
