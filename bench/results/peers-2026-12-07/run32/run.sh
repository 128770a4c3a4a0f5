#!/bin/bash
# Stop 36 baseline at dbb61c8 (the state stop 35 left): the train suite beside the PyTorch twins,
# then the embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, with
# run28's device record in the cache folder. One run into run32/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run32/${1:?run name}
mkdir -p $out
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
