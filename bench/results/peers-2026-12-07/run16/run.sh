#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 41419ff (the attention backward's row pointers since run13). One run into
# run16/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run16/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
