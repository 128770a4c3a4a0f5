#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at 5c770f9 (run21's engine; the host team's workers poll for the next job
# only while jobs come back within the poll). One run into run24/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run24/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
