#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan, and runs each
# for a bounded time on a scratch copy of its seed corpus (tests/fuzz/corpus_NAME).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 20 s, every target)
# Env: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (targets run at once, default 1),
#      FUZZ_KEEP_CORPUS=DIR (keep the grown corpora there).
# Prints one line per target: executions, coverage, corpus size, and whether it found anything;
# a finding (crash, sanitizer report, leak, timeout, out-of-memory) leaves its input under
# BUILD/fuzz-artifacts/NAME/ and makes the script exit 1. Reproduce with
#   BUILD/fuzz_NAME BUILD/fuzz-artifacts/NAME/crash-...
# and add the input to tests/fuzz/regressions/NAME/ once fixed (test_fuzz_regressions replays
# that folder in every build).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
shift || true
build=${FUZZ_BUILD_DIR:-$here/build-fuzz}
cc=${FUZZ_CC:-}
if [ -z "$cc" ]; then
  for c in clang clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null; then cc=$c; break; fi
  done
fi
if [ -z "$cc" ]; then
  echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("${n#fuzz_}")
  done
fi
CC=$cc cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLIPPO_FUZZ=ON \
  -DCLIPPO_BUILD_TESTS=OFF -DCLIPPO_WERROR=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

# Per input: 20 s, 2 GiB. intercept_tls_get_addr=0: the runtime's guess at dynamic TLS blocks
# (before LLVM 17) can crash LeakSanitizer at exit; see CMakeLists.txt.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:intercept_tls_get_addr=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/fuzz/lsan.supp:print_suppressions=0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
run_one() {
  set +e +o pipefail # runs in its own subshell; empty greps are fine here
  local name=$1 bin=$build/fuzz_$1 corpus=$here/tests/fuzz/corpus_$1
  local art=$build/fuzz-artifacts/$1 log=$work/$1.log
  mkdir -p "$art" "$work/corpus_$1"
  [ -d "$corpus" ] && cp "$corpus"/* "$work/corpus_$1/" 2>/dev/null || true
  local maxlen=65536
  local rc=0
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=$maxlen \
    -print_final_stats=1 -artifact_prefix="$art/" "$work/corpus_$1" >"$log" 2>&1 || rc=$?
  local runs cov ft units
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  units=$(ls "$work/corpus_$1" | wc -l)
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$1" && cp "$work/corpus_$1"/* "$FUZZ_KEEP_CORPUS/$1/" 2>/dev/null || true
  fi
  # An out-of-memory input with libFuzzer itself exiting 0 comes from a forked child: the HDF5
  # loader reads a file first in a throw-away child (host/io/isolate.c), which inherits libFuzzer's
  # malloc limit; libhdf5 asking more than it for a corrupt file ends that child, and the loader
  # reports the file as unreadable, as designed. Kept under $art/child/, not a finding. (The
  # fuzzer's own out-of-memory, crash or timeout exits non-zero.)
  if [ $rc -eq 0 ] && ls "$art" | grep -q '^oom-' && ! ls "$art" | grep -v '^oom-' | grep -q .; then
    mkdir -p "$art/child" && mv "$art"/oom-* "$art/child/"
    echo "fuzz $name: note: $(ls "$art/child" | wc -l) input(s) made the loader's forked child reach the malloc limit (libhdf5; the file was reported unreadable): $art/child"
  fi
  if [ $rc -ne 0 ] || ls "$art" | grep -v '^child$' | grep -q .; then
    echo "fuzz $name: FOUND SOMETHING (exit $rc) after ${runs:-?} executions; inputs in $art:"
    ls "$art" | sed 's/^/  /'
    grep -m1 -E 'ERROR: |runtime error:|deadly signal|out-of-memory|timeout' "$log" | sed 's/^/  /' || true
    tail -40 "$log" >"$art/last-log.txt"
    return 1
  fi
  echo "fuzz $name: ${runs:-?} executions in ${secs} s, cov ${cov:-?}, ft ${ft:-?}, corpus $units: nothing found"
}
npass=0
nfail=0
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
  if [ ! -x "$build/fuzz_$t" ]; then
    echo "fuzz.sh: no target fuzz_$t" >&2
    status=1
    continue
  fi
  rm -rf "$build/fuzz-artifacts/$t"
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    if wait "${pids[0]}"; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fi
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  if wait "$p"; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fi
done
[ $nfail -gt 0 ] && status=1
echo "fuzz: $npass passed, $nfail failed"
exit $status
