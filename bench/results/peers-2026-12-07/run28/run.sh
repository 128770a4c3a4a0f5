#!/bin/bash
# The embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, at
# edd74f9 (stop 34's final engine), after `clippo tune` (two rounds per provider, d90fb27) wrote
# the device's record (tune.txt beside the results). One run into run28/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run28/${1:?run name}
mkdir -p $out
./build/clippo tune --device 0:0 > $out/tune.txt 2>&1
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out
