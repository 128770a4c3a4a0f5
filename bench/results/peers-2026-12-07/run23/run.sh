#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 9024833, as run21 (the LayerNorm outputs kept for the backward, abfb7de; the host
# epilogues' vectorised bias/GELU loop, 9024833). One run into run23/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run23/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
