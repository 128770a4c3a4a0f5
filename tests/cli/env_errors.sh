#!/usr/bin/env bash
# An error caused by an environment variable names it (issue 12, point 14): a CLIPPO_DEVICE that
# matches no device, a CLIPPO_FONT file that does not exist, a CLIPPO_MODEL that is not
# readable. The program reads these variables and passes the values down (the library reads no
# CLIPPO_FONT); a bad value stops the command before any work, with exit 1.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
model=$shared/fixtures/tiny/model.npz
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
fonts=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
printf 'x' >"$tmp/x.png"

dev_case() { # NAME ARGS...: CLIPPO_DEVICE=no-such-device-xyz gives exit 1 naming the variable
  local name=$1
  shift
  CLIPPO_DEVICE=no-such-device-xyz CLIPPO_FONT=$fonts "$clippo" "$@" >"$tmp/o" 2>"$tmp/e"
  check "$name with a bad CLIPPO_DEVICE" 1 $? "$tmp/e"
  expect "$name names CLIPPO_DEVICE" "$tmp/e" "no-such-device-xyz.*(from CLIPPO_DEVICE)"
}
dev_case zeroshot zeroshot --model "$model" --classes a,b "$tmp/x.png"
dev_case eval eval --model "$model" --folder "$tmp"
dev_case tune tune --show
dev_case bench bench --quick --suite probe --out "$tmp/b"
if ls "$tmp/b" 2>/dev/null | grep -q bench-; then echo "FAIL: bench wrote a report"; fail=1; fi
# --device given on the command line wins over the variable
if "$clippo" devices 2>/dev/null | grep -q '^0:0'; then
  CLIPPO_DEVICE=no-such-device-xyz "$clippo" tune --device 0:0 --show >/dev/null 2>"$tmp/e"
  check "--device overrides CLIPPO_DEVICE" 0 $? "$tmp/e"
else
  skip "no OpenCL device"
fi

CLIPPO_FONT=$tmp/missing.hex "$clippo" zeroshot --model "$model" --classes a "$tmp/x.png" \
  >/dev/null 2>"$tmp/e"
check "missing CLIPPO_FONT file" 1 $? "$tmp/e"
expect "CLIPPO_FONT named" "$tmp/e" "font file .*missing.hex (from CLIPPO_FONT) is not readable"
CLIPPO_FONT=: "$clippo" eval --model "$model" --folder "$tmp" >/dev/null 2>"$tmp/e"
check "CLIPPO_FONT naming no file" 1 $? "$tmp/e"
expect "empty CLIPPO_FONT named" "$tmp/e" "CLIPPO_FONT=':' names no font file"
CLIPPO_FONT=$tmp/missing.hex "$clippo" render hi --out "$tmp/r.png" >/dev/null 2>"$tmp/e"
check "render with a missing CLIPPO_FONT file" 1 $? "$tmp/e"
expect "render names CLIPPO_FONT" "$tmp/e" "(from CLIPPO_FONT)"

CLIPPO_MODEL=$tmp/none.h5 "$clippo" zeroshot --classes a "$tmp/x.png" >/dev/null 2>"$tmp/e"
check "unreadable CLIPPO_MODEL" 1 $? "$tmp/e"
expect "CLIPPO_MODEL named" "$tmp/e" "model .*none.h5 (from CLIPPO_MODEL) is not readable"
CLIPPO_MODEL=$tmp/none.h5 "$clippo" eval --folder "$tmp" >/dev/null 2>"$tmp/e"
check "eval with an unreadable CLIPPO_MODEL" 1 $? "$tmp/e"
expect "eval names CLIPPO_MODEL" "$tmp/e" "(from CLIPPO_MODEL)"
finish
