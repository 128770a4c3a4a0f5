#!/usr/bin/env bash
# `clippo bench --out DIR` is checked before anything is measured (issue 12, point 14): a folder
# that cannot be created or written is an error naming it within a second, with no measurement
# printed; a new nested folder is created.
set -u
clippo=$1
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}

printf 'a file' >"$tmp/file"
t0=$(date +%s%N)
"$clippo" bench --quick --no-pytorch --out "$tmp/file/sub" >"$tmp/o" 2>"$tmp/e"
check "--out below a regular file" 1 $? "$tmp/e"
t1=$(date +%s%N)
expect "the folder is named" "$tmp/e" "out folder $tmp/file/sub"
[ ! -s "$tmp/o" ] && echo "ok: nothing measured" || { echo "FAIL: measured first:"; cat "$tmp/o"; fail=1; }
[ $(((t1 - t0) / 1000000)) -lt 5000 ] && echo "ok: fails at once" ||
  { echo "FAIL: took $(((t1 - t0) / 1000000)) ms"; fail=1; }
if [ "$(id -u)" != 0 ]; then
  mkdir "$tmp/ro" && chmod a-w "$tmp/ro"
  "$clippo" bench --quick --no-pytorch --out "$tmp/ro" >"$tmp/o" 2>"$tmp/e"
  check "read-only --out" 1 $? "$tmp/e"
  expect "read-only folder named" "$tmp/e" "cannot write into the --out folder $tmp/ro"
else
  echo "note: running as root, a read-only folder is writable: that case is not tested"
fi
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
"$clippo" bench --quick --no-pytorch --suite probe --device 0:0 --out "$tmp/new/deep" \
  >"$tmp/o" 2>"$tmp/e"
check "bench into a new nested folder" 0 $? "$tmp/e"
ls "$tmp/new/deep" | grep -q '^bench-.*\.json$' && echo "ok: report written" ||
  { echo "FAIL: no report in $tmp/new/deep"; cat "$tmp/e"; fail=1; }
finish
