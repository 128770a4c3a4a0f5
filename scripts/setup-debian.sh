#!/usr/bin/env bash
# Installs everything clippo-cl needs on Debian 12 (run as root; idempotent).
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ca-certificates
  ocl-icd-opencl-dev opencl-headers clinfo pocl-opencl-icd mesa-opencl-icd
  libclblast-dev libhdf5-dev libfreetype-dev libcmocka-dev libpng-dev libjpeg-dev libzip-dev
  libgif-dev libwebp-dev patchelf
  libcjson-dev libopenblas-dev liblapacke-dev
  libdnnl-dev
  libopenmpi-dev openmpi-bin
  clang libclang-rt-14-dev clang-format clang-tidy
  unifont dataset-fashion-mnist
  fortunes fortunes-min fortunes-de python3 python3-numpy
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup-debian: all ${#packages[@]} packages present"
