#!/usr/bin/env bash
# GIF and WebP images are decoded (giflib, libwebp) and BMP files are skipped with the reason
# (issue 12, point 14): explicit files and folder walks of `zeroshot` and `eval --folder`.
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
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
mkdir -p "$tmp/f/a" "$tmp/f/b"
# a 1x1 GIF (giflib's test image) and an 8x8 lossless WebP written by libwebp
printf 'GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b' \
  >"$tmp/f/a/one.gif"
printf 'RIFF\x22\x00\x00\x00WEBPVP8L\x16\x00\x00\x00\x2f\x07\xc0\x01\x00\x0f\x70\x0a\xe9\x53\x48\x9f\x42\x7a\xfe\x03\x0f\x55\x8d\xe8\x7f\x00' \
  >"$tmp/f/b/stripes.webp"
printf 'BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x04\x00\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00\x00' \
  >"$tmp/f/b/old.bmp"

zs() { "$clippo" zeroshot --model "$model" --cache off --classes "a,b" --json "$@"; }
zs "$tmp/f/a/one.gif" "$tmp/f/b/stripes.webp" >"$tmp/o" 2>"$tmp/e"
check "GIF and WebP classified" 0 $? "$tmp/e"
[ "$(grep -c '"predictions"' "$tmp/o")" = 2 ] && echo "ok: two predictions" ||
  { echo "FAIL: predictions"; cat "$tmp/o" "$tmp/e"; fail=1; }
# BMP: skipped with the reason even without --skip-bad; the others still run
zs "$tmp/f/b/old.bmp" "$tmp/f/a/one.gif" >"$tmp/o" 2>"$tmp/e"
check "a BMP among the files" 0 $? "$tmp/e"
expect "BMP skipped with the reason" "$tmp/e" "skipping: .*old.bmp: BMP images are not supported"
expect "BMP JSON line" "$tmp/o" '"image":"[^"]*old.bmp","skipped":true'
expect "GIF still classified" "$tmp/o" '"image":"[^"]*one.gif","predictions"'
zs "$tmp/f/b/old.bmp" >/dev/null 2>"$tmp/e"
check "only a BMP" 1 $? "$tmp/e"
expect "nothing classified" "$tmp/e" "no image could be classified"
# a corrupt GIF is an error naming it (without --skip-bad)
head -c 20 "$tmp/f/a/one.gif" >"$tmp/cut.gif"
zs "$tmp/cut.gif" >/dev/null 2>"$tmp/e"
check "truncated GIF" 1 $? "$tmp/e"
expect "truncated GIF named" "$tmp/e" "cut.gif: invalid GIF"

# a folder walk finds GIF, WebP and BMP files; BMP is reported as skipped
"$clippo" eval --model "$model" --cache off --templates none --folder "$tmp/f" --json \
  >"$tmp/o" 2>"$tmp/e"
check "eval --folder with GIF, WebP and BMP" 0 $? "$tmp/e"
expect "two images evaluated" "$tmp/o" '"images":2,"classes":2'
expect "BMP in the folder reported" "$tmp/e" "skipping: .*old.bmp"
expect "skip count" "$tmp/e" "1 file(s) skipped"
finish
