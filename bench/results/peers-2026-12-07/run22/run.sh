#!/bin/bash
# The embed suite (ViT-B/16 at batches 1 and 8) with the peers, two passes on each side, at
# 9024833 (declared-weights products apply their bias/GELU per part as they write C, b61f813; the
# host epilogues' vectorised bias/GELU loop, 9024833). One run into run22/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run22/${1:?run name}
./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch \
  --device 0:0 --out $out
