#!/bin/bash
# Stop 35, a second quiet-hour sample (run29 was the first): the embed suite (ViT-B/16 at batches 1 and 8) with the peers, two
# passes on each side, then the train suite beside the PyTorch twins, at 1a20f61 (stop 34's final
# engine) with the device record that stop 34's run28 tune wrote (in the cache folder; copied
# beside the results). One run into run30/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run30/${1:?run name}
mkdir -p $out
./build/clippo tune --show --device 0:0 > $out/tune-show.txt 2>&1
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out/embed
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
