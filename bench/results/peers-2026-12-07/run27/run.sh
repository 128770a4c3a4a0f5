#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 6b735b7 (stop 34: the training step's code is 90ff1c4's; the device
# record from run26's `clippo tune` in the cache folder). One run into run27/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run27/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
