#!/bin/bash
# Stop 38 on the 2-vCPU AMD EPYC Zen 3 of run35-run37 (AVX2 and FMA, no AVX-512, no VNNI), at
# c7bab36 (A^T B with long k: operands whose rows lie a multiple of 1 KiB apart copied into padded
# rows), no device record: the train suite beside the PyTorch twins, then the gemm suite (every
# ViT-B/16 product at 8 images through the oneDNN provider, oneDNN on the host beside it). One
# run into run38/$1.
set -e
cd "$(dirname "$0")/../../../.."
out=bench/results/peers-2026-12-07/run38/${1:?run name}
mkdir -p $out
./build/clippo bench --suite train --runs 10 --device 0:0 --out $out/train
CLIPPO_GEMM=onednn ./build/clippo bench --suite gemm --no-pytorch --device 0:0 --out $out/gemm
