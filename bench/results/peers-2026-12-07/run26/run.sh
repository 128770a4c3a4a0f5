#!/bin/bash
# The embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, at
# 6443143, following the device's record written by `clippo tune --device 0:0` just before
# (tune.txt beside the results): oneDNN for every shape class and, new in 6443143,
# declared=direct for mat_nn_l and mat_nn_s (oneDNN's matmul writes C itself for a batch-1
# product by declared weights). One run into run26/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run26/${1:?run name}
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out
