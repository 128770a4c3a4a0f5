#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds Release and the ASan/UBSan build, and runs ctest on both,
# on every OpenCL device (PoCL, and Mesa rusticl through RUSTICL_ENABLE=llvmpipe), checks the
# formatting, then runs the fuzz targets briefly.
set -euo pipefail
start=$SECONDS
# Prints a phase heading with the seconds spent so far (the CI budget is 20 minutes).
phase() { echo "== $1 (at $((SECONDS - start)) s) =="; }
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup-debian.sh
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
jobs=$(nproc)
status=0
for variant in release sanitize; do
  dir=build-ci-$variant
  flags=(-DCMAKE_BUILD_TYPE=Release)
  [ "$variant" = sanitize ] && flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLIPPO_SANITIZE=ON)
  phase "build ($variant)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  phase "ctest ($variant)"
  (cd "$dir" && ctest --output-on-failure -j "$jobs") || status=1
done
# style: clang-format must leave every tracked C file as it is (seconds); LINT=1 also runs
# clang-tidy over the tree (scripts/lint.sh, a few minutes on 2 cores).
phase clang-format
git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus' | xargs clang-format --dry-run --Werror ||
  status=1
if [ "${LINT:-0}" = 1 ]; then
  phase clang-tidy
  bash scripts/lint.sh build-ci-release || status=1
fi
# libFuzzer targets (tests/fuzz): a short bounded run each; FUZZ_SECONDS=0 skips them.
fuzz_seconds=${FUZZ_SECONDS:-5}
if [ "$fuzz_seconds" != 0 ]; then
  phase "fuzz (${fuzz_seconds} s per target)"
  FUZZ_BUILD_DIR=build-ci-fuzz FUZZ_JOBS=$jobs bash scripts/fuzz.sh "$fuzz_seconds" || status=1
fi
phase "done, status $status"
exit $status
