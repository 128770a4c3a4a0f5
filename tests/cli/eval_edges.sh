#!/usr/bin/env bash
# `clippo eval` edge cases (issue 12, point 13): IDX images and labels of different counts are
# an error even when --limit would cut both to the same size; a class folder without images
# reports n/a (table) or null (JSON), not 0 %; top-5 is reported only with at least 5 classes.
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
ev() { "$clippo" eval --model "$model" --cache off --templates none "$@"; }

# IDX files: 3 images of 4x4; 2 or 3 labels
printf '\0\0\x08\x03\0\0\0\x03\0\0\0\x04\0\0\0\x04' >"$tmp/img3.idx"
head -c 48 /dev/urandom >>"$tmp/img3.idx"
printf '\0\0\x08\x01\0\0\0\x02\x00\x01' >"$tmp/lab2.idx"
printf '\0\0\x08\x01\0\0\0\x04\x00\x01\x00\x01' >"$tmp/lab4.idx"
printf '\0\0\x08\x01\0\0\0\x03\x00\x01\x04' >"$tmp/lab3.idx"
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab2.idx" --limit 1 --classes "a,b" \
  >"$tmp/o" 2>"$tmp/e"
check "more images than labels, with --limit" 1 $? "$tmp/e"
expect "mismatch named" "$tmp/e" "img3.idx holds more images than the 2 labels of .*lab2.idx"
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab4.idx" --limit 2 --classes "a,b" \
  >"$tmp/o" 2>"$tmp/e"
check "fewer images than labels, with --limit" 1 $? "$tmp/e"
expect "counts named" "$tmp/e" "img3.idx holds 3 images but .*lab4.idx holds 4 labels"

# top-5 only with >= 5 classes; a class without images is n/a
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab3.idx" --classes "a,b,c,d,e" >"$tmp/o" 2>"$tmp/e"
check "IDX with 5 classes" 0 $? "$tmp/e"
expect "top-5 with 5 classes" "$tmp/o" "top-5 accuracy"
expect "class c without images is n/a" "$tmp/o" "^  c  *0  *n/a$"
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab3.idx" --classes "a,b,c,d,e" --json \
  >"$tmp/o" 2>"$tmp/e"
expect "JSON top1 null for c" "$tmp/o" '{"label":"c","images":0,"top1":null}'
expect "JSON top5 with 5 classes" "$tmp/o" '"top5":[0-9]'
printf '\0\0\x08\x01\0\0\0\x03\x00\x01\x01' >"$tmp/lab3b.idx"
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab3b.idx" --classes "a,b" >"$tmp/o" 2>"$tmp/e"
check "IDX with 2 classes" 0 $? "$tmp/e"
if grep -q "top-5" "$tmp/o"; then echo "FAIL: top-5 shown with 2 classes"; cat "$tmp/o"; fail=1; else
  echo "ok: no top-5 with 2 classes"; fi
expect "top-1 with 2 classes" "$tmp/o" "top-1 accuracy"
ev --idx-images "$tmp/img3.idx" --idx-labels "$tmp/lab3b.idx" --classes "a,b" --json >"$tmp/o" 2>&1
expect "JSON top5 null with 2 classes" "$tmp/o" '"top5":null'

# folders: an empty class folder
mkdir -p "$tmp/f/cat" "$tmp/f/dog" "$tmp/f/empty"
"$clippo" render --quiet --image-size 32 cat --out "$tmp/f/cat/1.png"
"$clippo" render --quiet --image-size 32 dog --out "$tmp/f/dog/1.png"
ev --folder "$tmp/f" >"$tmp/o" 2>"$tmp/e"
check "folder with an empty class" 0 $? "$tmp/e"
expect "empty class n/a" "$tmp/o" "^  empty  *0  *n/a$"
if grep -q "^  empty .*0.00%" "$tmp/o"; then echo "FAIL: 0 % for an empty class"; fail=1; else
  echo "ok: not 0 %"; fi
if grep -q "top-5" "$tmp/o"; then echo "FAIL: top-5 with 3 classes"; fail=1; else
  echo "ok: no top-5 with 3 classes"; fi
ev --folder "$tmp/f" --json >"$tmp/o" 2>"$tmp/e"
expect "empty class null in JSON" "$tmp/o" '{"label":"empty","images":0,"top1":null}'
finish
