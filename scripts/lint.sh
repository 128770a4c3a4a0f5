#!/usr/bin/env bash
# Style and static checks: clang-format (--dry-run) and clang-tidy (.clang-tidy) over every C file
# of the project, using the compile commands of a configured build folder (default build/).
# Exit status 0 only when both are clean.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
fi
# generated sources (embedded kernels, command table) must exist for the includes to resolve
cmake --build "$build" --target clippo clippo_cli -j"$(nproc)" >/dev/null || exit 1
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus')
status=0
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "lint: clang-format would change the files above (run clang-format -i)"
  status=1
fi
mapfile -t units < <(printf '%s\n' "${files[@]}" | grep '\.c$')
if ! run-clang-tidy -quiet -p "$build" -j "$(nproc)" \
  -extra-arg=-Wno-unknown-warning-option "${units[@]/#/$PWD/}" >"$build/clang-tidy.log" 2>&1; then
  grep -E "(warning|error):" "$build/clang-tidy.log" | sort -u
  echo "lint: clang-tidy found problems (full log $build/clang-tidy.log)"
  status=1
fi
[ $status = 0 ] && echo "lint: clang-format and clang-tidy clean (${#files[@]} files)"
exit $status
