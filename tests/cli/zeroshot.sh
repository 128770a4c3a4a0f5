#!/usr/bin/env bash
# `clippo zeroshot` and `clippo eval` on the tiny fixture model (image size 32) with PNGs made by
# `clippo render`: table and --json output, top-k, probabilities, corrupt files, --skip-bad,
# templates files, the prompt cache, IDX / folder / TSV evaluation.
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
# kernels are cached where ctest says; prompt embeddings go to a fresh file of our own
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
pcache=$tmp/prompts.h5

"$clippo" zeroshot --help >"$tmp/help"; check "--help" 0 $?
expect "help documents --skip-bad exit status" "$tmp/help" "at least one image was classified"
"$clippo" zeroshot --model "$tmp/none.npz" --classes a x.png >/dev/null 2>"$tmp/err"
check "missing --model file" 1 $? "$tmp/err"
expect "missing model named" "$tmp/err" "none.npz"
"$clippo" zeroshot --model "$model" x.png >/dev/null 2>&1; check "no classes" 2 $?
"$clippo" zeroshot --model "$model" --classes a >/dev/null 2>&1; check "no image" 2 $?
"$clippo" zeroshot --model "$model" --classes a --top-k 0 x.png >/dev/null 2>&1
check "bad --top-k" 2 $?

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

# Test images: rendered texts (valid PNGs), one at another size (resized), a corrupt file.
for w in cat dog car; do "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/$w.png"; done
"$clippo" render --quiet --image-size 48 "a ship" --out "$tmp/ship.png"
printf 'this is not an image' >"$tmp/bad.png"
head -c 40 "$tmp/cat.png" >"$tmp/truncated.png"

run() { "$clippo" zeroshot --model "$model" --cache "$pcache" "$@"; }

run --classes "cat,dog,car,ship" "$tmp/cat.png" "$tmp/ship.png" >"$tmp/table" 2>"$tmp/err"
check "table output" 0 $? "$tmp/err"
expect "table names the image" "$tmp/table" "^$tmp/cat.png$"
expect "table rank 1" "$tmp/table" "^ *1\. "
expect "table percent" "$tmp/table" "%$"
[ "$(grep -c '^ *[0-9]*\. ' "$tmp/table")" = 8 ] && echo "ok: 4 rows per image" ||
  { echo "FAIL: rows per image"; cat "$tmp/table"; fail=1; }

run --classes "cat,dog,car,ship" --json --top-k 2 "$tmp/cat.png" "$tmp/dog.png" "$tmp/ship.png" \
  >"$tmp/j2" 2>"$tmp/err"
check "--json --top-k 2" 0 $? "$tmp/err"
[ "$(wc -l <"$tmp/j2")" = 3 ] && echo "ok: one JSON line per image" ||
  { echo "FAIL: JSON lines"; cat "$tmp/j2"; fail=1; }
if grep -qv '^{"image":"[^"]*","predictions":\[{"label":"[^"]*","score":[0-9.e-]*},{"label":"[^"]*","score":[0-9.e-]*}\]}$' "$tmp/j2"; then
  echo "FAIL: JSON structure"; cat "$tmp/j2"; fail=1
else
  echo "ok: JSON structure"
fi
expect "JSON image path" "$tmp/j2" "\"image\":\"$tmp/dog.png\""
# scores: best first, in (0, 1)
awk -F'"score":' '{ for (i = 2; i <= NF; i++) { s = $i + 0; if (s <= 0 || s >= 1) bad = 1;
  if (i > 2 && s > prev + 1e-12) bad = 1; prev = s } } END { exit bad }' "$tmp/j2"
check "scores descending in (0,1)" 0 $?

# top-k larger than the class count gives every class; probabilities sum to 1
run --classes "cat,dog,car" --json --top-k 10 "$tmp/cat.png" >"$tmp/j3" 2>/dev/null
check "--top-k above class count" 0 $?
[ "$(grep -o '"label"' "$tmp/j3" | wc -l)" = 3 ] && echo "ok: top-k clamped" ||
  { echo "FAIL: top-k clamp"; cat "$tmp/j3"; fail=1; }
awk -F'"score":' '{ for (i = 2; i <= NF; i++) t += $i + 0 } END { exit !(t > 0.9999 && t < 1.0001) }' \
  "$tmp/j3"
check "probabilities sum to 1" 0 $?

# the prompt cache: created, reused, same answers; --cache off too; the default file
[ -f "$pcache" ] && echo "ok: prompt cache written" || { echo "FAIL: no prompt cache"; fail=1; }
rm -f "$CLIPPO_CACHE_DIR/prompts.h5"
"$clippo" zeroshot --model "$model" --classes "cat,dog" "$tmp/cat.png" >/dev/null 2>&1
[ -f "$CLIPPO_CACHE_DIR/prompts.h5" ] && echo "ok: default cache file" ||
  { echo "FAIL: no prompt cache in $CLIPPO_CACHE_DIR"; fail=1; }
run --classes "cat,dog,car" --json --top-k 10 "$tmp/cat.png" >"$tmp/j4" 2>/dev/null
cmp -s "$tmp/j3" "$tmp/j4" && echo "ok: cached run identical" ||
  { echo "FAIL: cached run differs"; diff "$tmp/j3" "$tmp/j4"; fail=1; }
"$clippo" zeroshot --model "$model" --classes "cat,dog,car" --json --top-k 10 --cache off \
  "$tmp/cat.png" >"$tmp/j5" 2>/dev/null
cmp -s "$tmp/j3" "$tmp/j5" && echo "ok: uncached run identical" ||
  { echo "FAIL: --cache off differs"; diff "$tmp/j3" "$tmp/j5"; fail=1; }
printf 'garbage' >"$pcache"
run --classes "cat,dog,car" --json --top-k 10 "$tmp/cat.png" >"$tmp/j6" 2>"$tmp/err"
check "corrupt cache is replaced" 0 $? "$tmp/err"
expect "corrupt cache warning" "$tmp/err" "prompt cache"
cmp -s "$tmp/j3" "$tmp/j6" && echo "ok: same answers after a corrupt cache" || { echo "FAIL"; fail=1; }

# corrupt and missing files
run --classes "cat,dog" "$tmp/cat.png" "$tmp/bad.png" "$tmp/dog.png" >"$tmp/out" 2>"$tmp/err"
check "corrupt file fails" 1 $? "$tmp/err"
expect "error names the file" "$tmp/err" "bad.png"
run --classes "cat,dog" "$tmp/truncated.png" >/dev/null 2>"$tmp/err"
check "truncated PNG fails" 1 $? "$tmp/err"
expect "error names the truncated file" "$tmp/err" "truncated.png"
run --classes "cat,dog" --skip-bad --json "$tmp/cat.png" "$tmp/bad.png" "$tmp/missing.png" \
  "$tmp/dog.png" >"$tmp/out" 2>"$tmp/err"
check "--skip-bad" 0 $? "$tmp/err"
[ "$(grep -c '"predictions"' "$tmp/out")" = 2 ] && echo "ok: good images classified" ||
  { echo "FAIL: good images"; cat "$tmp/out"; fail=1; }
# --json: a line for every file, in order, the skipped ones with their error (issue 12, 14)
[ "$(wc -l <"$tmp/out")" = 4 ] && echo "ok: a JSON line per file" ||
  { echo "FAIL: JSON lines with --skip-bad"; cat "$tmp/out"; fail=1; }
expect "--skip-bad --json skipped line" "$tmp/out" \
  "^{\"image\":\"$tmp/bad.png\",\"skipped\":true,\"error\":\"[^\"]*bad.png[^\"]*\"}$"
expect "--skip-bad --json missing file line" "$tmp/out" \
  "^{\"image\":\"$tmp/missing.png\",\"skipped\":true,"
sed -n 2p "$tmp/out" | grep -q "^{\"image\":\"$tmp/bad.png\",\"skipped\":true" &&
  echo "ok: skipped line in file order" ||
  { echo "FAIL: order"; cat "$tmp/out"; fail=1; }
expect "--skip-bad lists bad.png" "$tmp/err" "^  $tmp/bad.png$"
expect "--skip-bad lists missing.png" "$tmp/err" "^  $tmp/missing.png$"
run --classes "cat,dog" --skip-bad "$tmp/bad.png" >/dev/null 2>"$tmp/err"
check "--skip-bad with nothing classified" 1 $? "$tmp/err"

# templates and class files
printf '# templates\na photo of a {}.\na drawing of a {}\n' >"$tmp/templates.txt"
printf 'cat\n\n# comment\ndog, puppy\n' >"$tmp/classes.txt"
run --classes-file "$tmp/classes.txt" --templates "$tmp/templates.txt" --json "$tmp/cat.png" \
  >"$tmp/out" 2>"$tmp/err"
check "templates and classes files" 0 $? "$tmp/err"
expect "class label is the first alias" "$tmp/out" '"label":"dog"[,}]'
printf 'a photo of a {}\nno placeholder\n' >"$tmp/badt.txt"
run --classes cat --templates "$tmp/badt.txt" "$tmp/cat.png" >/dev/null 2>"$tmp/err"
check "bad templates file" 1 $? "$tmp/err"
expect "bad template names file:line" "$tmp/err" "badt.txt:2"
run --classes cat --templates none --json "$tmp/cat.png" >/dev/null 2>&1
check "--templates none" 0 $?
run --classes "cat,!!" "$tmp/cat.png" >/dev/null 2>"$tmp/err"
check "empty class after canonicalisation" 1 $? "$tmp/err"

# eval: IDX files written here (a 3-image set), a folder per class, a TSV
printf '\0\0\x08\x03\0\0\0\x03\0\0\0\x04\0\0\0\x04' >"$tmp/img.idx"
head -c 48 /dev/urandom >>"$tmp/img.idx"
printf '\0\0\x08\x01\0\0\0\x03\x00\x01\x00' >"$tmp/lab.idx"
gzip -k "$tmp/img.idx"
"$clippo" eval --model "$model" --idx-images "$tmp/img.idx.gz" --idx-labels "$tmp/lab.idx" \
  --classes "cat,dog" --templates none >"$tmp/out" 2>"$tmp/err"
check "eval IDX" 0 $? "$tmp/err"
expect "eval top-1 line" "$tmp/out" "top-1 accuracy"
"$clippo" eval --model "$model" --idx-images "$tmp/img.idx" --idx-labels "$tmp/lab.idx" \
  --classes "cat" --templates none >/dev/null 2>"$tmp/err"
check "eval IDX label out of range" 1 $? "$tmp/err"
printf '\0\0\x08\x03\0\0\0\x09' >"$tmp/trunc.idx"
"$clippo" eval --model "$model" --idx-images "$tmp/trunc.idx" --idx-labels "$tmp/lab.idx" \
  >/dev/null 2>"$tmp/err"
check "eval corrupt IDX" 1 $? "$tmp/err"
expect "corrupt IDX names the file" "$tmp/err" "trunc.idx"
mkdir -p "$tmp/folder/cat" "$tmp/folder/dog"
cp "$tmp/cat.png" "$tmp/folder/cat/"; cp "$tmp/dog.png" "$tmp/folder/dog/"
"$clippo" eval --model "$model" --folder "$tmp/folder" --json >"$tmp/out" 2>"$tmp/err"
check "eval folder --json" 0 $? "$tmp/err"
expect "eval folder JSON" "$tmp/out" '"task":"zeroshot".*"images":2,"classes":2'
printf 'cat.png\ta cat\ndog.png\ta dog\nship.png\ta ship\n' >"$tmp/caps.tsv"
"$clippo" eval --model "$model" --tsv "$tmp/caps.tsv" --json >"$tmp/out" 2>"$tmp/err"
check "eval TSV --json" 0 $? "$tmp/err"
expect "eval TSV JSON" "$tmp/out" '"image_to_text":{"recall@1":[0-9.]*,"recall@5":1,"recall@10":1}'
if [ -r "${CLIPPO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/t10k-images-idx3-ubyte.gz" ]; then
  "$clippo" eval --model "$model" --fashion-mnist --limit 20 --templates none >"$tmp/out" 2>"$tmp/err"
  check "eval --fashion-mnist" 0 $? "$tmp/err"
  expect "fashion-mnist examples" "$tmp/out" "Example predictions"
  expect "fashion-mnist accuracy" "$tmp/out" "top-1 accuracy .*(.*/ 20)"
fi
finish
