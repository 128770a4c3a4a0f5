#!/usr/bin/env bash
# `mpirun -np 2 clippo index` and `clippo eval` split the files over the ranks and give what one
# process gives (issue 15), on the tiny fixture model: the same index (paths, and the same search
# results and scores), a file that does not decode reported by rank 0 whichever rank read it,
# the same zero-shot (class folders) and retrieval (TSV) results; and a rank that cannot open its
# device stops every rank with its error. Skipped without MPI.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
# shellcheck source=lib/mpi.sh
. "$(dirname "$0")/lib/mpi.sh"
need_shared "$shared"
need_mpi "$clippo"
first_device "$clippo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$shared/fixtures/tiny/model.npz
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
host=$(hostname)

mkdir -p "$tmp/img/sub" "$tmp/cls/fruit" "$tmp/cls/animal"
words="apple banana cherry dog egg fig grape kiwi lemon"
for w in $words; do
  "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/img/$w.png"
done
printf '\x89PNG\r\n\x1a\nbroken' >"$tmp/img/sub/broken.png" # a PNG that does not decode
for w in apple banana cherry; do cp "$tmp/img/$w.png" "$tmp/cls/fruit/"; done
for w in dog egg fig; do cp "$tmp/img/$w.png" "$tmp/cls/animal/"; done

# index: the same entries and the same search results
"$clippo" index --model "$model" --device "$dev" --out "$tmp/one.h5" "$tmp/img" 2>"$tmp/err1"
check "index, one process" 0 $? "$tmp/err1"
mpi_run 2 "$clippo" index --model "$model" --device "$dev" --batch-size 2 --out "$tmp/two.h5" \
  "$tmp/img" >"$tmp/out2" 2>&1
check "index, 2 ranks" 0 $?
expect "2 ranks: summary" "$tmp/out2" "9 added, 0 updated, 0 removed, 1 skipped; .* holds 9 image"
expect "the broken file reported" "$tmp/out2" "skipping: .*broken.png"
[ "$(grep -c 'holds 9 image' "$tmp/out2")" = 1 ] && echo "ok: rank 0 alone reports" ||
  { echo "FAIL: summary printed $(grep -c 'holds 9 image' "$tmp/out2") times"; fail=1; }
for q in cherry kiwi "a fruit"; do
  "$clippo" search --index "$tmp/one.h5" --model "$model" --device "$dev" "$q" >"$tmp/s1"
  "$clippo" search --index "$tmp/two.h5" --model "$model" --device "$dev" "$q" >"$tmp/s2"
  if [ -s "$tmp/s1" ] && diff "$tmp/s1" "$tmp/s2" >/dev/null; then
    echo "ok: search '$q': the same ranking and scores"
  else
    echo "FAIL: search '$q' differs:"
    diff "$tmp/s1" "$tmp/s2"
    fail=1
  fi
done
# running it again with 2 ranks: nothing to do
mpi_run 2 "$clippo" index --model "$model" --device "$dev" --out "$tmp/two.h5" "$tmp/img" \
  >"$tmp/out2" 2>&1
check "index again, 2 ranks" 0 $?
expect "nothing new" "$tmp/out2" "0 added, 0 updated, 0 removed"

# eval: zero-shot on class folders and retrieval on a TSV, the same JSON
"$clippo" eval --model "$model" --device "$dev" --folder "$tmp/cls" --json >"$tmp/e1" 2>/dev/null
check "eval folders, one process" 0 $?
mpi_run 2 "$clippo" eval --model "$model" --device "$dev" --folder "$tmp/cls" --json \
  >"$tmp/e2" 2>/dev/null
check "eval folders, 2 ranks" 0 $?
grep -q '"top1"' "$tmp/e1" && cmp -s "$tmp/e1" "$tmp/e2" && echo "ok: the same zero-shot result" ||
  { echo "FAIL: zero-shot results differ:"; cat "$tmp/e1" "$tmp/e2"; fail=1; }
printf 'img/apple.png\tapple\nimg/dog.png\tdog\nimg/kiwi.png\ta kiwi\nimg/fig.png\tfig\nimg/lemon.png\tlemon\n' \
  >"$tmp/pairs.tsv"
"$clippo" eval --model "$model" --device "$dev" --tsv "$tmp/pairs.tsv" --json >"$tmp/t1" 2>/dev/null
check "eval TSV, one process" 0 $?
mpi_run 2 "$clippo" eval --model "$model" --device "$dev" --tsv "$tmp/pairs.tsv" --json \
  >"$tmp/t2" 2>/dev/null
check "eval TSV, 2 ranks" 0 $?
grep -q 'recall@1' "$tmp/t1" && cmp -s "$tmp/t1" "$tmp/t2" && echo "ok: the same recalls" ||
  { echo "FAIL: retrieval results differ:"; cat "$tmp/t1" "$tmp/t2"; fail=1; }

# a rank that cannot open its device: every rank stops, rank 0 says which and where
mpi_run 2 "$clippo" eval --model "$model" --device "$dev,nosuchdevice" --folder "$tmp/cls" \
  >"$tmp/out" 2>&1
check "eval: a rank without its device" 1 $?
expect "names rank 1 and its host" "$tmp/out" "rank 1 ($host): no OpenCL device matches 'nosuchdevice'"
mpi_run 2 "$clippo" index --model "$model" --device "nosuchdevice,$dev" --out "$tmp/x.h5" \
  "$tmp/img" >"$tmp/out" 2>&1
check "index: rank 0 without its device" 1 $?
expect "names rank 0 and its host" "$tmp/out" "rank 0 ($host): no OpenCL device matches 'nosuchdevice'"
[ ! -e "$tmp/x.h5" ] && echo "ok: no index written" || { echo "FAIL: x.h5 written"; fail=1; }
finish
