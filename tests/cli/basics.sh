#!/usr/bin/env bash
# The program's basics: usage, version, devices, unknown commands, --help of every subcommand.
set -u
clippo=$1
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
"$clippo" >/dev/null 2>&1; check "no arguments" 2 $?
"$clippo" --help >/dev/null; check "--help" 0 $?
out=$("$clippo" no-such-command 2>&1); check "unknown command" 2 $?
echo "$out" | grep -q "unknown command 'no-such-command'" || { echo "FAIL: unknown command message"; fail=1; }
echo "$out" | grep -q "Commands:" || { echo "FAIL: unknown command prints usage"; fail=1; }
"$clippo" version | grep -q '^clippo [0-9]'; check "version" 0 $?
for cmd in $("$clippo" --help | awk '/^Commands:/{on=1; next} on && NF==0{exit} on{print $1}'); do
  "$clippo" "$cmd" --help >/dev/null; check "$cmd --help" 0 $?
done
if "$clippo" devices >/tmp/clippo-devices.$$ 2>&1; then
  grep -q "index" /tmp/clippo-devices.$$ || { echo "FAIL: devices table"; fail=1; }
  "$clippo" devices --check >/dev/null 2>&1; check "devices --check" 0 $?
  if [ "${RUSTICL_ENABLE:-}" = llvmpipe ]; then
    grep -q llvmpipe /tmp/clippo-devices.$$ || { echo "FAIL: rusticl llvmpipe not listed"; fail=1; }
  fi
else
  skip "no OpenCL device"
fi
rm -f /tmp/clippo-devices.$$
CLIPPO_DEVICE=no-such-device-xyz "$clippo" devices --check >/dev/null 2>&1
"$clippo" devices --bogus >/dev/null 2>&1; check "devices bad option" 2 $?
finish
