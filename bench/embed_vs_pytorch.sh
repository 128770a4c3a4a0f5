#!/usr/bin/env bash
# ViT-B/16 image embedding through the `clippo embed` program next to PyTorch CPU
# (bench/pytorch_vit.py), alternated in one run so that both see the same machine load.
# usage: bench/embed_vs_pytorch.sh [--clippo PATH] [--model B16.{npz,h5}] [--images N]
#                                  [--batch B] [--rounds R] [--device SPEC]
# Without --model a randomly initialised B/16 checkpoint is made once in $TMPDIR (clippo train
# with learning rate 0). Prints images/s of each round and the ratio of the medians.
set -u
here=$(cd "$(dirname "$0")" && pwd)
clippo=$here/../build/clippo model="" n=32 batch=8 rounds=3 device=""
while [ $# -gt 0 ]; do
  case $1 in
  --clippo) clippo=$2; shift 2 ;;
  --model) model=$2; shift 2 ;;
  --images) n=$2; shift 2 ;;
  --batch) batch=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --device) device=$2; shift 2 ;;
  *) echo "usage: $0 [--clippo P] [--model M] [--images N] [--batch B] [--rounds R] [--device D]" >&2
    exit 2 ;;
  esac
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
  echo "embed_vs_pytorch: python3 with torch and numpy is needed" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" - "$tmp" "$n" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
np.save(sys.argv[1] + '/x.npy', r.uniform(-1, 1, (int(sys.argv[2]), 224, 224, 3)).astype(np.float32))
np.save(sys.argv[1] + '/x2.npy', r.uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32))
PY
dev=()
[ -n "$device" ] && dev=(--device "$device")
if [ -z "$model" ]; then
  model=$tmp/b16.h5
  printf 'a\nb\n' >"$tmp/t.txt"
  "$clippo" train --model b16 --images "$tmp/x2.npy" --texts "$tmp/t.txt" --optimizer sgd \
    --lr 0 --steps 1 --batch-size 2 --save "$model" --quiet "${dev[@]}" >/dev/null 2>&1 ||
    { echo "embed_vs_pytorch: could not make a B/16 checkpoint" >&2; exit 1; }
fi
# one untimed run of each: kernel builds, file cache, PyTorch's first allocation
"$clippo" embed --model "$model" --images "$tmp/x.npy" --out "$tmp/z.npy" --batch-size "$batch" \
  "${dev[@]}" 2>/dev/null || { echo "embed_vs_pytorch: clippo embed failed" >&2; exit 1; }
c=() p=()
for r in $(seq "$rounds"); do
  line=$("$clippo" embed --model "$model" --images "$tmp/x.npy" --out "$tmp/z.npy" \
    --batch-size "$batch" --stats "${dev[@]}" 2>&1 | grep -o '([0-9.]*/s)' | tr -d '()/s')
  pt=$("$py" "$here/pytorch_vit.py" --batch "$batch" --runs 3 --warmup 1 | tail -1 |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["rate"])')
  echo "round $r: clippo embed $line images/s, PyTorch $pt images/s"
  c+=("$line") p+=("$pt")
done
"$py" - "${c[*]}" "${p[*]}" "$batch" "$n" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
mc, mp = statistics.median(c), statistics.median(p)
print(f"median: clippo embed {mc:.3f} images/s ({sys.argv[4]} images, batch {sys.argv[3]}, "
      f"model load excluded), PyTorch CPU {mp:.3f} images/s -> ratio {mc / mp:.2f}")
PY
