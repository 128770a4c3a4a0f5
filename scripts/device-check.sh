#!/usr/bin/env bash
# Runs a clippo bundle (scripts/bundle.sh) on a machine with an OpenCL driver and writes one
# folder of results: the environment, `clippo devices --check`, every test program on every
# OpenCL device found, and `clippo bench --quick --profile` on each GPU (the profile: where the
# planned B/16 batch-1 embedding and training step spend their time, kernel by kernel).
#
#   scripts/device-check.sh BUNDLE [--out DIR] [--devices LIST] [--test-timeout S]
#                           [--budget S] [--no-bench] [--tests LIST]
#
# BUNDLE: the bundle folder or its .tar.xz. --out: results folder (default $OUT/device-check when
# OUT is set, else ./device-check-results). --devices: comma-separated P:D specs (default: every
# device `clippo devices` lists). --tests: comma-separated test program names (default: all).
# --budget: seconds for the whole test phase; tests not started by then are reported "not run".
#
# OpenCL drivers are found without an /etc/OpenCL/vendors entry: OCL_ICD_VENDORS or
# OCL_ICD_FILENAMES are honoured when set; otherwise the registered .icd files and every known
# vendor library that the dynamic linker or the usual folders have (NVIDIA libnvidia-opencl.so.1,
# AMD, Intel, PoCL, Mesa) are listed in a private vendors folder. The environment is recorded,
# never changed beyond that.
set -uo pipefail
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h | --help) usage; exit 0 ;; esac
bundle=$1
shift
out=${OUT:+$OUT/device-check}
out=${out:-$PWD/device-check-results}
devices=""
tests=""
test_timeout=300
budget=420
bench=1
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --devices) devices=$2; shift 2 ;;
  --tests) tests=$2; shift 2 ;;
  --test-timeout) test_timeout=$2; shift 2 ;;
  --budget) budget=$2; shift 2 ;;
  --no-bench) bench=0; shift ;;
  *) echo "device-check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -f "$bundle" ]; then
  mkdir -p "$out/.bundle"
  tar -C "$out/.bundle" -xJf "$bundle" || { echo "device-check.sh: cannot unpack $bundle" >&2; exit 1; }
  bundle=$(ls -d "$out"/.bundle/*/ | head -1)
fi
bundle=$(cd "$bundle" && pwd)
clippo=$bundle/bin/clippo
[ -x "$clippo" ] || { echo "device-check.sh: $bundle has no bin/clippo (make it with scripts/bundle.sh)" >&2; exit 1; }

ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)

# --- C library and C++ runtime -----------------------------------------------------------------
need=$(sed -n 's/^glibc needed: \([0-9.]*\).*/\1/p' "$bundle/MANIFEST.txt" 2>/dev/null)
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [ -n "$need" ] && [ -n "$have" ] &&
  [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "device-check.sh: this machine has glibc $have; the bundle needs $need or newer" >&2
  exit 1
fi
if ! "$ldconfig" -p 2>/dev/null | grep -q 'libstdc++\.so\.6 '; then
  export LD_LIBRARY_PATH=$bundle/lib/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "device-check.sh: no system C++ runtime; using the bundle's (lib/compat)"
fi

# --- OpenCL drivers -------------------------------------------------------------------------
icd_note="OCL_ICD_VENDORS/OCL_ICD_FILENAMES as set by the caller"
if [ -z "${OCL_ICD_VENDORS:-}" ] && [ -z "${OCL_ICD_FILENAMES:-}" ]; then
  vendors=$out/icd-vendors
  mkdir -p "$vendors"
  registered=""
  for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] || continue
    cp "$f" "$vendors/"
    registered="$registered $(tr -d '[:space:]' <"$f")"
  done
  libs="libnvidia-opencl.so.1 libamdocl64.so libintelocl.so libigdrcl.so libpocl.so.2 libMesaOpenCL.so.1 libRusticlOpenCL.so.1"
  dirs="/usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/wsl/lib /opt/rocm/lib /opt/intel/oneapi/lib"
  for lib in $libs; do
    found=$("$ldconfig" -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
    if [ -z "$found" ]; then
      for d in $dirs; do [ -e "$d/$lib" ] && { found=$d/$lib; break; }; done
    fi
    [ -n "$found" ] || continue
    case " $registered " in *"$lib"* | *"$found"*) continue ;; esac
    echo "$found" >"$vendors/${lib%%.so*}-found.icd"
  done
  export OCL_ICD_VENDORS=$vendors
  icd_note="private vendors folder $vendors: $(cat "$vendors"/*.icd 2>/dev/null | tr '\n' ' ')"
fi

# --- environment ------------------------------------------------------------------------------
{
  echo "# device-check environment"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -a)"
  [ -f /etc/os-release ] && echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE:-unset}; OPENBLAS_NUM_THREADS: ${OPENBLAS_NUM_THREADS:-unset}"
  echo "OpenCL drivers: $icd_note"
  if command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi:"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | sed 's/^/  /'
  fi
  echo "bundle:"
  sed 's/^/  /' "$bundle/MANIFEST.txt" 2>/dev/null | head -5
} >"$out/environment.md"
cat "$out/environment.md"

"$clippo" version >"$out/version.txt" 2>&1
"$clippo" devices >"$out/devices.txt" 2>&1
"$clippo" devices --check >"$out/devices-check.txt" 2>&1
devices_rc=$?
cat "$out/devices-check.txt"
if [ -z "$devices" ]; then
  devices=$(awk '$1 ~ /^[0-9]+:[0-9]+$/ {print $1}' "$out/devices.txt" | paste -sd, -)
fi
if [ -z "$devices" ]; then
  echo "device-check.sh: no OpenCL device found ($icd_note); see $out/devices.txt" >&2
  echo "no OpenCL device found" >"$out/summary.md"
  exit 1
fi

# --- tests on every device ----------------------------------------------------------------------
export CLIPPO_SHARED_DIR=$bundle/shared
export CLIPPO_SOURCE_DIR=$bundle/source
export CLIPPO_DATA_DIR=$bundle/share/clippo
export CLIPPO_CACHE_DIR=$out/kernel-cache
export CMOCKA_MESSAGE_OUTPUT=STDOUT
font_args=()
for f in "$bundle"/share/clippo/fonts/*.hex; do [ -f "$f" ] && font_args+=(--font "$f"); done
if [ -n "$tests" ]; then
  test_list=$(echo "$tests" | tr ',' ' ')
else
  test_list=$(cd "$bundle/bin" && ls test_* 2>/dev/null | tr '\n' ' ')
fi
start=$(date +%s)
summary=$out/summary.md
{
  echo "# device-check summary"
  echo
  echo "| device | test | result | seconds |"
  echo "|---|---|---|--:|"
} >"$summary"
pass=0 fail=0 skipped=0 notrun=0
IFS=, read -r -a device_list <<<"$devices"
for dev in "${device_list[@]}"; do
  name=$(awk -v d="$dev" '$1 == d {$1=""; print}' "$out/devices.txt" | sed 's/^ *//' | cut -c1-60)
  logdir=$out/tests-${dev/:/-}
  mkdir -p "$logdir"
  for t in $test_list; do
    if [ $(($(date +%s) - start)) -ge "$budget" ]; then
      echo "| $dev | $t | not run (budget ${budget} s spent) | |" >>"$summary"
      notrun=$((notrun + 1))
      continue
    fi
    t0=$(date +%s%N)
    CLIPPO_TEST_DEVICES=$dev timeout "$test_timeout" "$bundle/bin/$t" >"$logdir/$t.log" 2>&1
    rc=$?
    secs=$((($(date +%s%N) - t0) / 1000000000))
    if [ $rc = 77 ] || { [ $rc = 0 ] && grep -q '\[  SKIPPED \]' "$logdir/$t.log"; }; then
      result="skipped: $(grep -m1 -i 'skip' "$logdir/$t.log" | cut -c1-80)"
      skipped=$((skipped + 1))
    elif [ $rc = 0 ]; then
      result=passed
      pass=$((pass + 1))
    elif [ $rc = 124 ]; then
      result="FAILED (timeout ${test_timeout} s)"
      fail=$((fail + 1))
    else
      result="FAILED (exit $rc: $(grep -m1 -E 'FAILED|ERROR|error' "$logdir/$t.log" | cut -c1-80))"
      fail=$((fail + 1))
    fi
    printf '%-8s %-28s %s\n' "$dev" "$t" "$result"
    echo "| $dev $name | $t | $result | $secs |" >>"$summary"
  done
done
echo >>"$summary"
echo "tests: $pass passed, $fail failed, $skipped skipped, $notrun not run" >>"$summary"

# --- benchmarks on GPUs -------------------------------------------------------------------------
if [ "$bench" = 1 ]; then
  for dev in "${device_list[@]}"; do
    type=$(awk -v d="$dev" '$1 == d' "$out/devices.txt" | grep -o -w -E 'GPU|CPU|ACCEL|accelerator|gpu|cpu' | head -1)
    case $type in GPU | gpu) ;; *) continue ;; esac
    echo "== clippo bench --quick --profile on $dev =="
    timeout 600 "$clippo" bench --quick --profile --device "$dev" --no-pytorch "${font_args[@]}" \
      --out "$out/bench" >"$out/bench-${dev/:/-}.log" 2>&1
    echo "bench on $dev: exit $? (log bench-${dev/:/-}.log)" | tee -a "$summary"
  done
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ] && [ "$devices_rc" = 0 ]
