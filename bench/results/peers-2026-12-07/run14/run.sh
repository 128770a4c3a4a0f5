#!/bin/bash
# The embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side (the
# engine's second after the peers' second), float32 and the precisions through bench_precision
# are not part of it. One run into run14/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run14/${1:?run name}
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out
