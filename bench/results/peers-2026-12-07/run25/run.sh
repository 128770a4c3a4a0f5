#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 90ff1c4 (stop 33's final engine), at the start of stop 34, before any
# change. One run into run25/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run25/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
