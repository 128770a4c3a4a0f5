# Result helpers shared by the shell tests of the program (sourced; not a test itself). Each
# prints "ok: NAME" or "FAIL: ..." and sets the caller's fail=1 on a failure.

# check NAME EXPECTED_RC ACTUAL_RC [FILE]: an exit status; on a failure FILE (the command's
# captured stderr, say) is shown too, so that a log says why.
check() {
  if [ "$2" = "$3" ]; then
    echo "ok: $1"
    return
  fi
  echo "FAIL: $1: exit $3, expected $2"
  fail=1
  if [ $# -ge 4 ] && [ -r "$4" ]; then
    echo "--- $4:"
    cat "$4"
  fi
}

# expect NAME FILE PATTERN: FILE contains PATTERN (grep).
expect() {
  if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: no '$3' in:"; cat "$2"; fail=1; fi
}

# skip WHAT: says that part of the test did not run (no device, no numpy...); finish then exits
# with 77, which ctest shows as "Skipped" (SKIP_RETURN_CODE in CMakeLists.txt), not "Passed".
skip() {
  echo "skip: $*"
  skipped=1
}

# finish: ends the script: exit 1 after any failure (fail=1), else 77 when something was
# skipped, else 0.
finish() {
  if [ "${fail:-0}" != 0 ]; then exit 1; fi
  if [ "${skipped:-0}" = 1 ]; then exit 77; fi
  exit 0
}

# need_shared DIR: the shared fixtures folder (../shared beside the checkout, or
# $CLIPPO_SHARED_DIR) must hold the tiny fixture and the Unifont 9.0.06 files; otherwise the
# test fails at once naming the folder (never a silent fallback to other fonts or a skip).
need_shared() {
  local f
  for f in fixtures/tiny/model.npz fonts/unifont-9.0.06.hex fonts/unifont_upper-9.0.06.hex; do
    if [ ! -r "$1/$f" ]; then
      echo "FAIL: shared fixtures folder '$1' has no $f (a checkout needs ../shared beside it," \
        "or set CLIPPO_SHARED_DIR)"
      exit 1
    fi
  done
}
