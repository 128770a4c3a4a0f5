#!/bin/bash
# Side by side after this stop's training-step changes (optimizer kernels, gradient arena, MLP
# epilogue, fused QKV backward, residual adds on the LayerNorms, exp2): the train suite with the
# PyTorch twins (eager and compiled, before and after clippo's rows; each keeps its faster pass)
# and the step profile, on the 2-vCPU AMD EPYC (Zen 4: family 25, model 17) of run12. One run into
# run13/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run13/${1:?run name}
./build/clippo bench --suite train --runs 10 --profile --device 0:0 --out $out
