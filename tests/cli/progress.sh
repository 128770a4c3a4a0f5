#!/usr/bin/env bash
# Progress on stderr (issue 12 point 10): `embed` on many inputs shows periodic lines when
# stderr is not a terminal and a bar when it is; short runs stay quiet; --quiet and
# CLIPPO_PROGRESS=off silence it; a cold kernel cache says "compiling OpenCL kernels for DEVICE
# (first run; cached in DIR)" once (embed, index, search, zeroshot), and a warm one says nothing.
# (`index` progress is checked in index_search.sh.)
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
fx=$shared/fixtures/tiny
model=$fx/model.npz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

# a cold kernel cache is announced once, before the wait
export CLIPPO_CACHE_DIR=$tmp/cold
"$clippo" embed --model "$model" --text "a" --out "$tmp/a.npy" 2>"$tmp/err"
check "embed on a cold cache" 0 $? "$tmp/err"
expect "cold cache announced" "$tmp/err" \
  "^clippo embed: compiling OpenCL kernels for .* (first run; cached in $tmp/cold)$"
[ "$(grep -c compiling "$tmp/err")" = 1 ] && echo "ok: announced once" ||
  { echo "FAIL: announced $(grep -c compiling "$tmp/err") times"; fail=1; }
"$clippo" embed --model "$model" --text "a" --out "$tmp/a.npy" 2>"$tmp/err"
check "embed on a warm cache" 0 $? "$tmp/err"
[ -s "$tmp/err" ] && { echo "FAIL: a warm cache or a short run printed:"; cat "$tmp/err"; fail=1; }

"$clippo" render --quiet --image-size 32 "apple" --out "$tmp/a.png"
export CLIPPO_CACHE_DIR=$tmp/cold2
"$clippo" index --model "$model" --out "$tmp/ix.h5" "$tmp/a.png" 2>"$tmp/err"
check "index on a cold cache" 0 $? "$tmp/err"
expect "index: cold cache announced" "$tmp/err" "^clippo index: compiling OpenCL kernels for "
export CLIPPO_CACHE_DIR=$tmp/cold3
"$clippo" search --index "$tmp/ix.h5" "apple" >/dev/null 2>"$tmp/err"
check "search on a cold cache" 0 $? "$tmp/err"
expect "search: cold cache announced" "$tmp/err" "^clippo search: compiling OpenCL kernels for "

export CLIPPO_CACHE_DIR=$tmp/cold4
"$clippo" zeroshot --model "$model" --classes apple,pear "$tmp/a.png" >/dev/null 2>"$tmp/err"
check "zeroshot on a cold cache" 0 $? "$tmp/err"
expect "zeroshot: cold cache announced" "$tmp/err" "^clippo zeroshot: compiling OpenCL kernels for "
export CLIPPO_CACHE_DIR=$tmp/cold # warm now

# many inputs: periodic lines (CLIPPO_PROGRESS_INTERVAL=0: every batch, from the start)
for i in $(seq 1 40); do echo "text number $i"; done >"$tmp/many.txt"
CLIPPO_PROGRESS_INTERVAL=0 "$clippo" embed --model "$model" --texts "$tmp/many.txt" \
  --batch-size 8 --out "$tmp/m.npy" 2>"$tmp/err"
check "embed 40 texts" 0 $? "$tmp/err"
expect "a progress line" "$tmp/err" "^clippo embed: 16/40 texts (40%)  [0-9.]* texts/s  ETA [0-9]*:[0-9][0-9]$"
expect "the last line" "$tmp/err" "^clippo embed: 40/40 texts (100%)  [0-9.]* texts/s  in [0-9]*:[0-9][0-9]$"
[ "$(grep -c 'texts/s' "$tmp/err")" -ge 5 ] && echo "ok: one line per batch" ||
  { echo "FAIL: progress lines:"; cat "$tmp/err"; fail=1; }
CLIPPO_PROGRESS_INTERVAL=0 "$clippo" embed --quiet --model "$model" --texts "$tmp/many.txt" \
  --out "$tmp/m.npy" 2>"$tmp/err"
[ -s "$tmp/err" ] && { echo "FAIL: --quiet printed:"; cat "$tmp/err"; fail=1; }
CLIPPO_PROGRESS=off CLIPPO_PROGRESS_INTERVAL=0 "$clippo" embed --model "$model" \
  --texts "$tmp/many.txt" --out "$tmp/m.npy" 2>"$tmp/err"
[ -s "$tmp/err" ] && { echo "FAIL: CLIPPO_PROGRESS=off printed:"; cat "$tmp/err"; fail=1; }
CLIPPO_PROGRESS_INTERVAL=0 "$clippo" embed --model "$model" --images "$tmp/a.png" "$tmp/a.png" \
  "$tmp/a.png" --batch-size 2 --out "$tmp/i.npy" 2>"$tmp/err"
expect "image progress" "$tmp/err" "^clippo embed: 3/3 images (100%)"

# on a terminal: a bar redrawn in place
if command -v script >/dev/null; then
  CLIPPO_PROGRESS_INTERVAL=0 script -qec "'$clippo' embed --model '$model' --texts '$tmp/many.txt' \
    --batch-size 8 --out '$tmp/t.npy'" /dev/null >"$tmp/tty" 2>&1
  check "embed on a terminal" 0 $?
  grep -q $'\r.*clippo embed: \[=*> *\] 8/40 texts' "$tmp/tty" && echo "ok: a bar on a terminal" ||
    { echo "FAIL: no bar:"; cat -v "$tmp/tty"; fail=1; }
  grep -q 'clippo embed: \[=\{30\}\] 40/40 texts' "$tmp/tty" && echo "ok: the bar ends full" ||
    { echo "FAIL: the bar does not end full:"; cat -v "$tmp/tty"; fail=1; }
else
  skip "progress bar (no 'script' command for a terminal)"
fi
finish
