# Result helpers shared by the shell tests of the program (sourced; not a test itself). Each
# prints "ok: NAME" or "FAIL: ..." and sets the caller's fail=1 on a failure.

# check NAME EXPECTED_RC ACTUAL_RC: an exit status.
check() {
  if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, expected $2"; fail=1; else echo "ok: $1"; fi
}

# expect NAME FILE PATTERN: FILE contains PATTERN (grep).
expect() {
  if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: no '$3' in:"; cat "$2"; fail=1; fi
}
