#!/usr/bin/env bash
# `clippo eval --typographic WORD | --typographic-classes` on the tiny fixture model: usage
# errors (no attack on --tsv, two attacks, bad colour/position/scale), the table and JSON with
# and without the label (and the blank-label control) on IDX data and class folders, and
# Fashion-MNIST when installed.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
model=$shared/fixtures/tiny/model.npz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}

"$clippo" eval --help >"$tmp/help"; check "--help" 0 $?
expect "help documents --typographic" "$tmp/help" "--typographic WORD"
expect "help documents --typo-control" "$tmp/help" "--typo-control"
ev() { "$clippo" eval --model "$model" "$@"; }
printf 'x.png\ta cat\n' >"$tmp/caps.tsv"
ev --tsv "$tmp/caps.tsv" --typographic cat >/dev/null 2>"$tmp/err"
check "no attack on --tsv" 2 $? "$tmp/err"
expect "--tsv named" "$tmp/err" "not --tsv"
ev --folder "$tmp" --typographic cat --typographic-classes >/dev/null 2>&1
check "two attacks" 2 $?
ev --folder "$tmp" --typographic "" >/dev/null 2>&1; check "empty word" 2 $?
ev --folder "$tmp" --typographic cat --typo-color purple >/dev/null 2>"$tmp/err"
check "bad colour" 2 $? "$tmp/err"
expect "bad colour named" "$tmp/err" "colour 'purple'"
ev --folder "$tmp" --typographic cat --typo-background 1,2 >/dev/null 2>&1
check "bad background" 2 $?
ev --folder "$tmp" --typographic cat --typo-position left >/dev/null 2>"$tmp/err"
check "bad position" 2 $? "$tmp/err"
expect "bad position named" "$tmp/err" "position 'left'"
ev --folder "$tmp" --typographic cat --typo-scale 0 >/dev/null 2>&1; check "--typo-scale 0" 2 $?
ev --folder "$tmp" --typo-scale 2 >/dev/null 2>"$tmp/err"; check "styling without an attack" 2 $?
expect "styling needs an attack" "$tmp/err" "need --typographic"

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

# IDX: 6 random 8x8 images, labels 0 1 2 0 1 2
printf '\0\0\x08\x03\0\0\0\x06\0\0\0\x08\0\0\0\x08' >"$tmp/img.idx"
head -c 384 /dev/urandom >>"$tmp/img.idx"
printf '\0\0\x08\x01\0\0\0\x06\x00\x01\x02\x00\x01\x02' >"$tmp/lab.idx"
idx() { ev --idx-images "$tmp/img.idx" --idx-labels "$tmp/lab.idx" --classes cat,dog,car \
  --templates none "$@"; }
idx --typographic-classes --typo-control --json >"$tmp/out" 2>"$tmp/err"
check "IDX --typographic-classes --json" 0 $? "$tmp/err"
expect "JSON names the attack" "$tmp/out" \
  '"task":"typographic",.*"images":6,"classes":3,"attack":"next_class_name"'
expect "JSON drawing options" "$tmp/out" '"color":"0,0,0","background":"255,255,255","scale":1,"position":"bottom"'
expect "JSON accuracies" "$tmp/out" \
  '"clean_top1":[0-9.e-]*,"attack_top1":[0-9.e-]*,"drop":[-0-9.e]*,"clean_predicts_word":[0-9.e-]*,"attack_predicts_word":[0-9.e-]*,"control_top1":[0-9.e-]*,"control_predicts_word":[0-9.e-]*}$'
# the clean accuracy is the one plain eval reports
idx --json >"$tmp/plain" 2>/dev/null
top1=$(grep -o '"top1":[0-9.e-]*' "$tmp/plain" | head -n 1 | cut -d: -f2)
expect "clean accuracy equals plain eval's ($top1)" "$tmp/out" "\"clean_top1\":$top1,"
# a word that names a class, the table
idx --typographic Dog --typo-position 0,0 --typo-color white --typo-background none \
  >"$tmp/out" 2>"$tmp/err"
check "IDX --typographic Dog (table)" 0 $? "$tmp/err"
expect "table: label described" "$tmp/out" "label: 'Dog', colour 255,255,255 on no background, at 0,0, scale 1"
expect "table: the word's class" "$tmp/out" "the word names class 'dog'"
expect "table: clean row" "$tmp/out" "^  clean  *[0-9.]*%  *[0-9.]*%$"
expect "table: drop" "$tmp/out" "accuracy drop .* points (.* of 6)"
# a word too large for the image at this scale
idx --typographic cat --typo-scale 2 >/dev/null 2>"$tmp/err"
check "scale too large for a 32-pixel model" 1 $? "$tmp/err"
expect "scale error" "$tmp/err" "scale 2 leaves 16 pixels"

# class folders of rendered words
mkdir -p "$tmp/folder/cat" "$tmp/folder/dog"
"$clippo" render --quiet --image-size 32 "cat" --out "$tmp/folder/cat/a.png"
"$clippo" render --quiet --image-size 32 "kitten" --out "$tmp/folder/cat/b.png"
"$clippo" render --quiet --image-size 32 "dog" --out "$tmp/folder/dog/a.png"
ev --folder "$tmp/folder" --templates none --typographic-classes --typo-position top --json \
  >"$tmp/out" 2>"$tmp/err"
check "folder --typographic-classes" 0 $? "$tmp/err"
expect "folder JSON" "$tmp/out" '"images":3,"classes":2,.*"position":"top"'
head -c 40 "$tmp/folder/dog/a.png" >"$tmp/folder/dog/broken.png"
ev --folder "$tmp/folder" --templates none --typographic dog >/dev/null 2>"$tmp/err"
check "undecodable image" 1 $? "$tmp/err"
expect "undecodable image named" "$tmp/err" "broken.png"

if [ -r "${CLIPPO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/t10k-images-idx3-ubyte.gz" ]; then
  ev --fashion-mnist --limit 20 --templates none --typographic-classes >"$tmp/out" 2>"$tmp/err"
  check "--fashion-mnist --typographic-classes" 0 $? "$tmp/err"
  expect "Fashion-MNIST label" "$tmp/out" "the next class's name ('Trouser' on T-shirt/top images"
else
  skip "Fashion-MNIST is not installed"
fi
finish
