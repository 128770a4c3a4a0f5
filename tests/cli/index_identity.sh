#!/usr/bin/env bash
# A model's identity is its parameter values, not its file bytes (issue 12 point 7): an index
# built with one file accepts the same parameters converted .npz <-> .h5, saved params-only, or
# inside a training checkpoint with optimizer state; other parameters are refused by name.
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
export CLIPPO_CACHE_DIR=$tmp/cache # identities are remembered here: start empty
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

mkdir -p "$tmp/img"
for w in apple banana; do "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/img/$w.png"; done
ix=$tmp/ix.h5
"$clippo" index --quiet --model "$model" --out "$ix" "$tmp/img"; check "index with the .npz" 0 $?

# the same parameters in other files
"$clippo" convert --quiet "$model" "$tmp/same.h5"
"$clippo" convert --quiet --params-only "$tmp/same.h5" "$tmp/same.npz"
"$clippo" convert --quiet --font other-font "$tmp/same.h5" "$tmp/font.h5"
cmp -s "$model" "$tmp/same.npz" && echo "note: the .npz round trip is byte-identical"
for m in same.h5 same.npz font.h5; do
  "$clippo" search --index "$ix" --model "$tmp/$m" "banana" >"$tmp/out" 2>"$tmp/err"
  check "search accepts $m" 0 $? "$tmp/err"
  expect "search with $m finds the image" "$tmp/out" "+1.0000  $tmp/img/banana.png"
  "$clippo" index --model "$tmp/$m" --out "$ix" "$tmp/img" 2>"$tmp/err"
  check "index accepts $m" 0 $? "$tmp/err"
  expect "index with $m: nothing to embed again" "$tmp/err" "0 added, 0 updated"
done

# a training checkpoint (parameters + optimizer state) and its parameters alone
"$clippo" train --init "$model" --images "$fx/images.npy" --texts "$fx/texts.txt" \
  --optimizer adamw --lr 1e-3 --steps 1 --batch-size 4 --quiet --save "$tmp/trained.h5" \
  >/dev/null 2>"$tmp/err"
check "one training step" 0 $? "$tmp/err"
"$clippo" inspect "$tmp/trained.h5" >"$tmp/inspect" 2>&1
grep -q "opt" "$tmp/inspect" && echo "ok: the training checkpoint holds optimizer state" ||
  { echo "FAIL: no optimizer state in the training checkpoint:"; cat "$tmp/inspect"; fail=1; }
"$clippo" convert --quiet --params-only "$tmp/trained.h5" "$tmp/trained-params.npz"
tix=$tmp/trained-ix.h5
"$clippo" index --quiet --model "$tmp/trained.h5" --out "$tix" "$tmp/img"
check "index with the training checkpoint" 0 $?
"$clippo" search --index "$tix" --model "$tmp/trained-params.npz" "apple" >/dev/null 2>"$tmp/err"
check "search with its params-only copy" 0 $? "$tmp/err"

# other parameters are refused, naming both models
"$clippo" search --index "$ix" --model "$tmp/trained.h5" "apple" >/dev/null 2>"$tmp/err"
check "search refuses other parameters" 1 $? "$tmp/err"
expect "search names the models" "$tmp/err" "another model"
"$clippo" index --model "$tmp/trained-params.npz" --out "$ix" "$tmp/img" 2>"$tmp/err"
check "index refuses other parameters" 1 $? "$tmp/err"
expect "index names the models" "$tmp/err" "another model"

# without --model, search uses the model the index records
"$clippo" search --index "$tix" "apple" >/dev/null 2>"$tmp/err"
check "search defaults to the index's model" 0 $? "$tmp/err"
finish
