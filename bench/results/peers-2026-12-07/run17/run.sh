#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 37f8b41 (sgemm on a plain copy of a small transposed B). One run into
# run17/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run17/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
