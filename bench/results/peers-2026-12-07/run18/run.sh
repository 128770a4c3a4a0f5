#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at a9c3045 (run17's engine plus the attention kernels' transposed staging,
# streamed probabilities and prefetch hints). One run into run18/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run18/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
