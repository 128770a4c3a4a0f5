#!/usr/bin/env bash
# `clippo index` and `clippo search` on the tiny fixture model: index a folder, resume by
# indexing a superset, an interrupted run, refusing another model, text and image queries.
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

"$clippo" index --help >/dev/null; check "index --help" 0 $?
"$clippo" search --help >/dev/null; check "search --help" 0 $?
"$clippo" index --model "$model" --out x.h5 >/dev/null 2>&1; check "index without PATH" 2 $?
"$clippo" search --model "$model" --index x.h5 >/dev/null 2>&1; check "search without query" 2 $?
"$clippo" search --model "$model" --index x.h5 --image a.png "text" >/dev/null 2>&1
check "search with two queries" 2 $?

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

mkdir -p "$tmp/img/sub/deeper" "$tmp/img/.hidden"
words="apple banana cherry dog egg fig"
for w in $words; do
  d=$tmp/img; case $w in dog | egg) d=$tmp/img/sub ;; fig) d=$tmp/img/sub/deeper ;; esac
  "$clippo" render --quiet --image-size 32 "$w" --out "$d/$w.png"
done
cp "$tmp/img/apple.png" "$tmp/img/.hidden/hidden.png"
printf 'not an image' >"$tmp/img/notes.txt"
ix=$tmp/index.h5

# a subset first, then the whole folder: only the new images are embedded
"$clippo" index --model "$model" --out "$ix" "$tmp/img/apple.png" "$tmp/img/sub/dog.png" \
  2>"$tmp/err"
check "index two files" 0 $? "$tmp/err"
expect "two added" "$tmp/err" "2 added, 0 updated, 0 removed, 0 skipped; .* holds 2 image"
CLIPPO_PROGRESS_INTERVAL=0 "$clippo" index --model "$model" --out "$ix" "$tmp/img" 2>"$tmp/err"
check "index the folder (resume)" 0 $? "$tmp/err"
expect "superset: 2 already there" "$tmp/err" "6 image file(s) found, 2 already in"
expect "superset: 4 added" "$tmp/err" "4 added, 0 updated, 0 removed, 0 skipped; .* holds 6 image"
expect "plain progress lines when not a terminal" "$tmp/err" "^clippo index: 4/4 images (100%)  .* images/s"
"$clippo" index --model "$model" --out "$ix" "$tmp/img" 2>"$tmp/err"
check "index again: nothing to do" 0 $? "$tmp/err"
expect "nothing new" "$tmp/err" "0 added"

# text query: the image rendered from the same text is identical to the query rendering
"$clippo" search --index "$ix" --model "$model" "cherry" >"$tmp/out" 2>"$tmp/err"
check "search by text" 0 $? "$tmp/err"
expect "header" "$tmp/out" "^rank  score"
sed -n 2p "$tmp/out" | grep -q "^   1  +1.0000  $tmp/img/cherry.png$" &&
  echo "ok: text query finds its rendering first" || { echo "FAIL: text rank 1"; cat "$tmp/out"; fail=1; }
[ "$(grep -c '^ *[0-9]' "$tmp/out")" = 6 ] && echo "ok: all 6 listed (top-k 10)" ||
  { echo "FAIL: result count"; fail=1; }

# image query, --json, --top-k
"$clippo" search --index "$ix" --model "$model" --image "$tmp/img/sub/deeper/fig.png" --top-k 3 \
  --json >"$tmp/out" 2>"$tmp/err"
check "search by image --json" 0 $? "$tmp/err"
# score 1 within float32 noise: 1, 1.00000011920929 (AVX-512 sums), 0.99999994...
expect "json first result is the same image, score 1" "$tmp/out" \
  "\"results\":\[{\"rank\":1,\"score\":\(1\|1\.000000[0-9]*\|0\.999999[0-9]*\),\"path\":\"$tmp/img/sub/deeper/fig.png\"}"
[ "$(grep -o '"rank"' "$tmp/out" | wc -l)" = 3 ] && echo "ok: --top-k 3" || { echo "FAIL: top-k"; fail=1; }
"$clippo" search --index "$ix" --model "$model" --image "$tmp/img/notes.txt" >/dev/null 2>"$tmp/err"
check "search by a non-image" 1 $? "$tmp/err"
expect "error names the query file" "$tmp/err" "notes.txt"

# another model (other parameter values: one training step) is refused by index and search
fx=$shared/fixtures/tiny
"$clippo" train --init "$model" --images "$fx/images.npy" --texts "$fx/texts.txt" --optimizer sgd \
  --lr 1 --steps 1 --batch-size 4 --quiet --save "$tmp/other.h5" >/dev/null 2>&1
check "another model (one training step)" 0 $?
"$clippo" index --model "$tmp/other.h5" --out "$ix" "$tmp/img" 2>"$tmp/err"
check "index refuses another model" 1 $? "$tmp/err"
expect "index names the models" "$tmp/err" "another model"
"$clippo" search --index "$ix" --model "$tmp/other.h5" "apple" >/dev/null 2>"$tmp/err"
check "search refuses another model" 1 $? "$tmp/err"
expect "search names the models" "$tmp/err" "another model"
printf 'junk' >"$tmp/junk.h5"
"$clippo" search --index "$tmp/junk.h5" --model "$model" "apple" >/dev/null 2>"$tmp/err"
check "search a corrupt index" 1 $? "$tmp/err"
expect "corrupt index named" "$tmp/err" "junk.h5"

# an interrupted run resumes: many copies, SIGINT once embedding started, then finish
mkdir -p "$tmp/many"
n=2000
for k in 0 1 2 3; do # tee writes 500 copies at a time (open file limits)
  tee $(seq -f "$tmp/many/a%g.png" $((k * 500 + 1)) $((k * 500 + 500))) <"$tmp/img/apple.png" \
    >/dev/null
done
big=$tmp/big.h5
"$clippo" index --model "$model" --out "$big" --chunk 16 --batch-size 4 "$tmp/many" \
  2>"$tmp/err1" &
pid=$!
for i in $(seq 1 600); do grep -q "to embed" "$tmp/err1" && break; sleep 0.05; done
sleep 0.3
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc = 130 ]; then
  echo "ok: interrupted (exit 130)"
  expect "interrupt message" "$tmp/err1" "run the same command again to resume"
elif [ $rc = 0 ]; then
  echo "note: indexing finished before the interrupt"
else
  echo "FAIL: interrupted run exit $rc"; cat "$tmp/err1"; fail=1
fi
"$clippo" index --model "$model" --out "$big" "$tmp/many" 2>"$tmp/err2"
check "resume after interrupt" 0 $? "$tmp/err2"
expect "resume completes" "$tmp/err2" "holds $n image"
done1=$(sed -n 's/.*; .* holds \([0-9]*\) image.*/\1/p' "$tmp/err1")
[ -n "$done1" ] && expect "resume skips the committed ones" "$tmp/err2" "$n image file(s) found, $done1 already in"
finish
