#!/bin/bash
# The train suite beside the PyTorch twins (eager and compiled, both sides measured twice) with
# the step profile, at b905223 (run18's engine, run again after the embed runs of run19). One run
# into run20/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run20/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
