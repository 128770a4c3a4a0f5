#!/usr/bin/env bash
# `clippo index` keeps an index true to the files (issue 12 point 6): entries are keyed by path,
# size and modification time; indexing again embeds changed files anew, drops deleted ones and
# reports added/updated/removed counts; `search` never returns a deleted file, even before the
# index is brought up to date.
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
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

img=$tmp/img
mkdir -p "$img/sub"
for w in apple banana cherry; do "$clippo" render --quiet --image-size 32 "$w" --out "$img/$w.png"; done
"$clippo" render --quiet --image-size 32 "dog" --out "$img/sub/dog.png"
ix=$tmp/ix.h5
"$clippo" index --model "$model" --out "$ix" "$img" 2>"$tmp/err"
check "first index" 0 $? "$tmp/err"
expect "four added" "$tmp/err" "4 added, 0 updated, 0 removed, 0 skipped; .* holds 4 image"

# first result of a text query: "RANK  SCORE  PATH"
top() { "$clippo" search --index "$ix" --model "$model" --top-k 10 "$1" 2>"$tmp/serr" | sed -n 2p; }

# banana.png now shows another word (same name; the size or time differs); sub/dog.png is
# deleted; cherry.png is untouched
sleep 1.1 # a different modification time even on coarse clocks
"$clippo" render --quiet --image-size 32 "zebra" --out "$img/banana.png"
rm "$img/sub/dog.png"

# before re-indexing: search leaves the deleted file out and says so
"$clippo" search --index "$ix" --model "$model" --top-k 10 "dog" >"$tmp/out" 2>"$tmp/serr"
check "search with a deleted file" 0 $? "$tmp/serr"
if grep -q "sub/dog.png" "$tmp/out"; then echo "FAIL: search returned a deleted file"; cat "$tmp/out"; fail=1
else echo "ok: search leaves a deleted file out"; fi
expect "search notes the deleted file" "$tmp/serr" "1 indexed file(s) no longer exist"
expect "search notes the changed file" "$tmp/serr" "1 result(s) changed since they were indexed"

"$clippo" index --model "$model" --out "$ix" "$img" 2>"$tmp/err"
check "index again" 0 $? "$tmp/err"
expect "plan counts" "$tmp/err" "3 image file(s) found, 2 already in .*, 1 to embed (0 new, 1 changed), 1 to remove"
expect "one updated, one removed" "$tmp/err" "0 added, 1 updated, 1 removed, 0 skipped; .* holds 3 image"
line=$(top "zebra")
case $line in
  *"+1.0000  $img/banana.png") echo "ok: the changed file has its new embedding" ;;
  *) echo "FAIL: zebra -> '$line' (the old embedding was kept?)"; fail=1 ;;
esac
"$clippo" search --index "$ix" --model "$model" --top-k 10 "dog" >"$tmp/out" 2>"$tmp/serr"
[ "$(grep -c '^ *[0-9]' "$tmp/out")" = 3 ] && ! grep -q "dog.png" "$tmp/out" &&
  echo "ok: the deleted file is gone from the index" || { echo "FAIL: after re-index"; cat "$tmp/out"; fail=1; }
[ -s "$tmp/serr" ] && { echo "FAIL: notes after the index is up to date:"; cat "$tmp/serr"; fail=1; }

# nothing changed: nothing to do
"$clippo" index --model "$model" --out "$ix" "$img" 2>"$tmp/err"
check "index unchanged" 0 $? "$tmp/err"
expect "nothing to do" "$tmp/err" "0 added, 0 updated, 0 removed, 0 skipped; .* holds 3 image"

# an added file, and a changed file that no longer decodes: skipped and its entry dropped
sleep 1.1
"$clippo" render --quiet --image-size 32 "egg" --out "$img/egg.png"
printf '\x89PNG\r\n\x1a\nbroken' >"$img/cherry.png"
"$clippo" index --model "$model" --out "$ix" "$img" 2>"$tmp/err"
check "index with a broken file" 0 $? "$tmp/err"
expect "broken file reported" "$tmp/err" "skipping: .*cherry.png"
expect "added one, dropped the broken" "$tmp/err" "1 added, 0 updated, 1 removed, 1 skipped; .* holds 3 image"
"$clippo" search --index "$ix" --model "$model" --top-k 10 "cherry" >"$tmp/out" 2>/dev/null
grep -q "cherry.png" "$tmp/out" && { echo "FAIL: a file that no longer decodes is still returned"; fail=1; }

# a file indexed through one PATH changes, then another PATH is indexed: still refreshed
other=$tmp/other
mkdir -p "$other"
"$clippo" render --quiet --image-size 32 "fig" --out "$other/fig.png"
sleep 1.1
"$clippo" render --quiet --image-size 32 "kiwi" --out "$img/apple.png"
"$clippo" index --model "$model" --out "$ix" "$other" 2>"$tmp/err"
check "index another folder" 0 $? "$tmp/err"
expect "entries outside the PATHs are refreshed too" "$tmp/err" "1 added, 1 updated, 0 removed"
line=$(top "kiwi")
case $line in
  *"+1.0000  $img/apple.png") echo "ok: refreshed outside the PATH given" ;;
  *) echo "FAIL: kiwi -> '$line'"; fail=1 ;;
esac

# many updates: the file is rewritten with its live rows only (compaction), still searchable
for k in 1 2 3; do
  sleep 1.1
  for w in apple banana egg; do "$clippo" render --quiet --image-size 32 "$w$k" --out "$img/$w.png"; done
  "$clippo" index --quiet --model "$model" --out "$ix" "$img" "$other" 2>"$tmp/err"
  check "update round $k" 0 $? "$tmp/err"
done
line=$(top "banana3")
case $line in
  *"+1.0000  $img/banana.png") echo "ok: latest embedding after repeated updates" ;;
  *) echo "FAIL: banana3 -> '$line'"; fail=1 ;;
esac
"$clippo" search --index "$ix" --model "$model" --top-k 100 --json "x" >"$tmp/out" 2>/dev/null
[ "$(grep -o '"rank"' "$tmp/out" | wc -l)" = 4 ] && echo "ok: 4 live entries" ||
  { echo "FAIL: entries after updates"; cat "$tmp/out"; fail=1; }
finish
