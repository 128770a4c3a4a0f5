#!/usr/bin/env bash
# Benchmarks clippo on PoCL and on Mesa rusticl (llvmpipe) and writes bench/results/:
# bench-<device>.json, .md and .svg for each, log-<platform>.txt (what `clippo bench` printed)
# and MACHINE.md (CPU, memory, OpenCL platforms, package versions, environment, load).
#
# Run it on a quiet machine from a Release build:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j
#   bench/run-all.sh [--build DIR] [--out DIR] [--quick] [other clippo bench options...]
#
# Environment: POCL_ARGS, RUSTICL_ARGS: extra `clippo bench` options per platform. RUSTICL_ARGS
# defaults to "--variants b16 --batches 1,8" (llvmpipe would need hours for L/16 at batch 32);
# set it to "" for the whole suite. The environment is otherwise used as it is (OPENBLAS_CORETYPE
# in particular is recorded, not changed).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
out=$root/bench/results
extra=()
while [ $# -gt 0 ]; do
  case $1 in
  --build) build=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) extra+=("$1"); shift ;;
  esac
done
clippo=$build/clippo
if [ ! -x "$clippo" ]; then
  echo "run-all.sh: $clippo not found; build first (cmake -S . -B build && cmake --build build)" >&2
  exit 2
fi
pocl_args=${POCL_ARGS:-}
rusticl_args=${RUSTICL_ARGS---variants b16 --batches 1,8}
mkdir -p "$out" || exit 1

section() { printf '\n## %s\n\n```\n' "$1"; }
endsection() { printf '```\n'; }

describe_machine() {
  echo "# Machine for the benchmark results in this folder"
  echo
  echo "Written by bench/run-all.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)."
  echo "clippo: $("$clippo" version 2>/dev/null | head -1)," \
    "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$( [ -n "$(git -C "$root" status --porcelain 2>/dev/null | head -1)" ] && echo '(with uncommitted changes)')"
  echo "Options: ${extra[*]:-(none)}; PoCL: ${pocl_args:-(none)}; rusticl: ${rusticl_args:-(none)}"
  section "System"
  uname -srm
  if command -v lscpu >/dev/null; then
    lscpu | grep -E '^(Architecture|Model name|Vendor ID|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L1d cache|L2 cache|L3 cache|Hypervisor vendor|Virtualization type)'
    printf 'SIMD flags:'
    for f in sse4_2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_tile; do
      grep -qw "$f" /proc/cpuinfo 2>/dev/null && printf ' %s' "$f"
    done
    echo
  else
    sysctl -n machdep.cpu.brand_string hw.ncpu hw.memsize 2>/dev/null
  fi
  free -h 2>/dev/null | sed -n '1,2p'
  echo "load average (1, 5, 15 min) before the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  endsection
  section "Environment"
  for v in OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS OMP_NUM_THREADS CLIPPO_GEMM CLIPPO_OPS_VARIANT \
    CLIPPO_CACHE_DIR POCL_AFFINITY; do
    echo "$v=${!v-(unset)}"
  done
  endsection
  section "OpenCL devices (clippo devices, RUSTICL_ENABLE=llvmpipe)"
  RUSTICL_ENABLE=llvmpipe "$clippo" devices 2>&1
  if command -v clinfo >/dev/null; then
    echo
    RUSTICL_ENABLE=llvmpipe clinfo 2>/dev/null | sed '/NULL platform behavior/,$d' |
      grep -E '^ *(Platform Name|Platform Version|Device Name|Device Version|Driver Version|Max compute units|Max clock frequency)' |
      sed 's/  */ /g'
  fi
  endsection
  if command -v dpkg-query >/dev/null; then
    section "Packages"
    dpkg-query -W -f='${Package} ${Version}\n' pocl-opencl-icd libpocl2 mesa-opencl-icd \
      libclblast1 'libopenblas0*' libopenblas-dev python3-torch python3-torchvision clang-15 \
      2>/dev/null
    endsection
  fi
}

describe_machine >"$out/MACHINE.md"
echo "run-all.sh: wrote $out/MACHINE.md"

rc=0
devices=$(RUSTICL_ENABLE=llvmpipe "$clippo" devices 2>/dev/null)
script=$root/bench/pytorch_vit.py
if echo "$devices" | grep -q "Portable Computing Language"; then
  echo "run-all.sh: PoCL"
  # shellcheck disable=SC2086
  "$clippo" bench --device "portable computing" --out "$out" --pytorch-script "$script" \
    $pocl_args "${extra[@]}" 2>&1 | tee "$out/log-pocl.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
else
  echo "run-all.sh: no PoCL device, skipped" | tee "$out/log-pocl.txt"
fi
if echo "$devices" | grep -q "rusticl"; then
  echo "run-all.sh: rusticl (llvmpipe)"
  # shellcheck disable=SC2086
  RUSTICL_ENABLE=llvmpipe "$clippo" bench --device rusticl --out "$out" --pytorch-script "$script" \
    $rusticl_args "${extra[@]}" 2>&1 | tee "$out/log-rusticl.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
else
  echo "run-all.sh: no rusticl device (mesa-opencl-icd with RUSTICL_ENABLE=llvmpipe), skipped" |
    tee "$out/log-rusticl.txt"
fi
{
  echo
  echo "Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  echo
  echo "## Reports"
  echo
  for f in "$out"/bench-*.md; do
    [ -e "$f" ] || continue
    b=$(basename "$f" .md)
    echo "- $b: [table]($b.md), [JSON]($b.json), [plot]($b.svg)"
  done
} >>"$out/MACHINE.md"
echo "run-all.sh: results in $out (exit $rc)"
exit $rc
