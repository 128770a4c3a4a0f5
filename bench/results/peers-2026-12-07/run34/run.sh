#!/bin/bash
# Stop 36 at 91bd2c6 again, 20 minutes after run33: the train suite beside the PyTorch twins,
# then the embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, with
# run28's device record in the cache folder. One run into run34/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run34/${1:?run name}
mkdir -p $out
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
