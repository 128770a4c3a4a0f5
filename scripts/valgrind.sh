#!/usr/bin/env bash
# Runs the host-only CMocka tests (those that open no OpenCL device) under valgrind memcheck:
# any invalid access, use of uninitialised memory, or definite / indirect leak fails.
#   bash scripts/valgrind.sh [BUILD_DIR] [TEST...]
# BUILD_DIR defaults to build-valgrind (configured here: RelWithDebInfo, no sanitizers).
# Tests: every tests/test_*.c that does not call test_each_device / test_device_specs /
# clippo_rt_create, unless named. Exit status 1 if any test fails or valgrind reports anything.
# (A test that fails under valgrind's slowness, e.g. on a timing assertion, shows leaks of the
# memory its aborted test case still held: read the test's own failure first.)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-valgrind}
shift || true
if ! command -v valgrind >/dev/null; then
  echo "valgrind.sh: valgrind not installed (apt-get install valgrind)" >&2
  exit 1
fi
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for f in "$here"/tests/test_*.c; do
    grep -q -E 'test_each_device|test_device_specs|clippo_rt_create' "$f" || tests+=("$(basename "$f" .c)")
  done
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
cmake --build "$build" -j "$(nproc)" --target "${tests[@]}" >/dev/null || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
for t in "${tests[@]}"; do
  start=$(date +%s)
  # Forked children (the guarded HDF5 reads and writes, host/io/isolate.c) are not checked:
  # they inherit the parent's heap and would report its live blocks as leaks at _exit. A read
  # runs again in the parent once the child got through, so the loader is still checked.
  (cd "$build" && CLIPPO_CACHE_DIR=off CMOCKA_MESSAGE_OUTPUT=STDOUT valgrind --tool=memcheck \
    --child-silent-after-fork=yes \
    --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30 \
    --log-file="$logs/$t.%p.log" "./$t" >"$logs/$t.out" 2>&1)
  rc=$?
  errors=$(cat "$logs/$t".*.log | grep -h -E '^==[0-9]+== ERROR SUMMARY: [1-9]' | head -1)
  took=$(($(date +%s) - start))
  if [ $rc -ne 0 ] || [ -n "$errors" ]; then
    echo "valgrind $t: FAILED (exit $rc, ${took} s) ${errors#*== }"
    tail -5 "$logs/$t.out" | sed 's/^/  /'
    for l in "$logs/$t".*.log; do
      grep -q -E 'ERROR SUMMARY: [1-9]' "$l" && sed -n '/Invalid\|uninitialised\|definitely lost\|indirectly lost\|Mismatched\|overlap/,/^==[0-9]*== $/p' "$l" | head -60 | sed 's/^/  /'
    done
    status=1
  else
    echo "valgrind $t: clean (${took} s, $(ls "$logs/$t".*.log | wc -l) processes)"
  fi
done
exit $status
