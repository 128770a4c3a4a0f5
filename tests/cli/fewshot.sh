#!/usr/bin/env bash
# `clippo fewshot`: usage errors; given features (.npy + text or .npy labels) with known answers
# and every kind of bad input (wrong label counts, bad label lines, empty splits, a shot count
# larger than a class, mismatched feature sizes); on the tiny fixture model, class folders of
# rendered PNGs (whose results must equal those of the same images' `clippo embed --pre-logits`
# features) and Fashion-MNIST when installed.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
model=$shared/fixtures/tiny/model.npz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
# shellcheck source=lib/npzgen.sh
. "$(dirname "$0")/lib/npzgen.sh"
need_shared "$shared"
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}

# ---- usage --------------------------------------------------------------------------------
"$clippo" fewshot --help >"$tmp/help"; check "--help" 0 $?
expect "help names big_vision's evaluator" "$tmp/help" "fewshot_lsr"
"$clippo" fewshot >/dev/null 2>&1; check "no data" 2 $?
"$clippo" fewshot --train-dir a >/dev/null 2>&1; check "--train-dir alone" 2 $?
"$clippo" fewshot --train-features a --train-labels b --test-features c >/dev/null 2>&1
check "incomplete features" 2 $?
"$clippo" fewshot --fashion-mnist --train-dir a --test-dir b >/dev/null 2>&1
check "two data sources" 2 $?
"$clippo" fewshot --fashion-mnist --shots 0 >/dev/null 2>"$tmp/err"; check "--shots 0" 2 $?
expect "--shots error" "$tmp/err" "--shots"
"$clippo" fewshot --fashion-mnist --shots 1,x >/dev/null 2>&1; check "--shots 1,x" 2 $?
"$clippo" fewshot --fashion-mnist --l2 -1 >/dev/null 2>&1; check "--l2 -1" 2 $?
"$clippo" fewshot --fashion-mnist --l2 2^ >/dev/null 2>&1; check "--l2 2^" 2 $?
"$clippo" fewshot --fashion-mnist --seeds 0 >/dev/null 2>&1; check "--seeds 0" 2 $?
"$clippo" fewshot --fashion-mnist --classes a,b >/dev/null 2>&1; check "--classes with images" 2 $?

# ---- given features -----------------------------------------------------------------------
# f32 bytes of 1.0 and 0.0; class c of 2 is the row (c == 0, c == 1), n rows per class
one='\x00\x00\x80\x3f'
zero='\x00\x00\x00\x00'
features() { # OUT ROWS_PER_CLASS [CLASSES=2]
  local k=${3:-2} c i
  { npy_header '<f4' "($(($2 * k)), 2)"
    for ((i = 0; i < $2; i++)); do
      for ((c = 0; c < k; c++)); do
        if [ $((c % 2)) = 0 ]; then printf "$one$zero"; else printf "$zero$one"; fi
      done
    done; } >"$1"
}
labels() { # OUT ROWS_PER_CLASS [CLASSES=2]: labels 0 1 0 1 ...
  local k=${3:-2} c i
  for ((i = 0; i < $2; i++)); do for ((c = 0; c < k; c++)); do echo $c; done; done >"$1"
}
features "$tmp/tr.npy" 10
labels "$tmp/tr.txt" 10
features "$tmp/te.npy" 5
labels "$tmp/te.txt" 5
fs() { "$clippo" fewshot --train-features "$tmp/tr.npy" --train-labels "$tmp/tr.txt" "$@"; }

fs --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" --shots 1,5 --seeds 2 --json \
  >"$tmp/out" 2>"$tmp/err"
check "features --json" 0 $? "$tmp/err"
expect "features JSON header" "$tmp/out" \
  '"task":"fewshot",.*"representation":"features","dim":2,"classes":2,"train":20,"test":10'
expect "1 shot: separable classes all right" "$tmp/out" \
  '{"shots":1,"l2":1024,"accuracy":1,"std":0,"per_seed":\[1,1\]}'
expect "5 shots" "$tmp/out" '{"shots":5,"l2":1024,"accuracy":1,'
# one test label wrong: exactly 9 of 10 right
sed '3s/.*/1/' "$tmp/te.txt" >"$tmp/te9.txt"
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te9.txt" --shots 2 --l2 1024,2^-3 --json \
  >"$tmp/out" 2>"$tmp/err"
check "features, a wrong test label" 0 $? "$tmp/err"
expect "9 of 10" "$tmp/out" '{"shots":2,"l2":1024,"accuracy":0.9,'
expect "each l2 reported (2^-3)" "$tmp/out" '{"shots":2,"l2":0.125,"accuracy":0.9,'
# the table
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te9.txt" --shots 1 --seeds 3 >"$tmp/out" 2>&1
check "features table" 0 $?
expect "table row" "$tmp/out" "^ *1 *1024 *90.00% *0.00%  *90.00 90.00 90.00$"
# .npy labels (int64), and --test-limit
{ npy_header '<i8' '(10,)'; for i in 0 1 0 1 0 1 0 1 0 1; do printf "\\x0$i\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; done; } \
  >"$tmp/te_lab.npy"
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te_lab.npy" --test-limit 4 --shots 3 --json \
  >"$tmp/out" 2>"$tmp/err"
check ".npy labels, --test-limit" 0 $? "$tmp/err"
expect "4 test examples" "$tmp/out" '"test":4,.*"accuracy":1,'
# class names
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" --classes cat,dog,bird --shots 1 \
  >/dev/null 2>"$tmp/err"
check "a named class without examples" 1 $? "$tmp/err"
expect "names the empty class" "$tmp/err" "class 2 (bird) has 0 training example(s), fewer than 1 shots"

# bad inputs: each a clear error naming the file (and line)
head -n 19 "$tmp/tr.txt" >"$tmp/tr19.txt"
"$clippo" fewshot --train-features "$tmp/tr.npy" --train-labels "$tmp/tr19.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "wrong label count" 1 $? "$tmp/err"
expect "label count names both files" "$tmp/err" "tr.npy holds 20 feature rows but .*tr19.txt 19 labels"
sed '4s/.*/x1/' "$tmp/tr.txt" >"$tmp/trx.txt"
"$clippo" fewshot --train-features "$tmp/tr.npy" --train-labels "$tmp/trx.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "bad label line" 1 $? "$tmp/err"
expect "bad label names file:line" "$tmp/err" "trx.txt:4: 'x1' is not a non-negative integer label"
sed '2s/.*/-1/' "$tmp/tr.txt" >"$tmp/trn.txt"
"$clippo" fewshot --train-features "$tmp/tr.npy" --train-labels "$tmp/trn.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "negative label" 1 $? "$tmp/err"
expect "negative label names file:line" "$tmp/err" "trn.txt:2:"
{ head -n 5 "$tmp/tr.txt"; echo; tail -n 15 "$tmp/tr.txt"; } >"$tmp/trb.txt"
"$clippo" fewshot --train-features "$tmp/tr.npy" --train-labels "$tmp/trb.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "blank line inside labels" 1 $? "$tmp/err"
expect "blank line names file:line" "$tmp/err" "trb.txt:6: empty line"
sed '5s/.*/2/' "$tmp/te.txt" >"$tmp/te2.txt"
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te2.txt" >/dev/null 2>"$tmp/err"
check "test label of no training class" 1 $? "$tmp/err"
expect "unknown test label names file:line" "$tmp/err" "te2.txt:5: label 2 is not below the 2 classes"
fs --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" --shots 5,11 >/dev/null 2>"$tmp/err"
check "shots larger than a class" 1 $? "$tmp/err"
expect "shots error names the class" "$tmp/err" "class 0 has 10 training example(s), fewer than 11 shots"
npy_header '<f4' '(0, 2)' >"$tmp/empty.npy"
: >"$tmp/empty.txt"
fs --test-features "$tmp/empty.npy" --test-labels "$tmp/empty.txt" >/dev/null 2>"$tmp/err"
check "empty test split" 1 $? "$tmp/err"
expect "empty split named" "$tmp/err" "test split (.*empty.npy) is empty"
"$clippo" fewshot --train-features "$tmp/empty.npy" --train-labels "$tmp/empty.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "empty training split" 1 $? "$tmp/err"
expect "empty training split named" "$tmp/err" "training split (.*empty.npy) is empty"
{ npy_header '<f4' '(10, 3)'; fill 120 0; } >"$tmp/te3.npy"
fs --test-features "$tmp/te3.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "feature sizes differ" 1 $? "$tmp/err"
expect "feature sizes named" "$tmp/err" "tr.npy has 2 features per row but .*te3.npy 3"
{ npy_header '<f4' '(20,)'; fill 80 0; } >"$tmp/flat.npy"
"$clippo" fewshot --train-features "$tmp/flat.npy" --train-labels "$tmp/tr.txt" \
  --test-features "$tmp/te.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "1-D features" 1 $? "$tmp/err"
expect "1-D features named" "$tmp/err" "flat.npy: expected shape (N, D)"
fs --test-features "$tmp/missing.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "missing features file" 1 $? "$tmp/err"
expect "missing file named" "$tmp/err" "missing.npy"
{ npy_header '<f4' '(10, 2)'; printf '\x00\x00\xc0\x7f'; fill 76 0; } >"$tmp/nan.npy"
fs --test-features "$tmp/nan.npy" --test-labels "$tmp/te.txt" >/dev/null 2>"$tmp/err"
check "NaN in the test features" 1 $? "$tmp/err"

# ---- with a model -------------------------------------------------------------------------
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
# two classes of rendered words, 3 training and 2 test images each
for split in train test; do mkdir -p "$tmp/$split/cat" "$tmp/$split/dog"; done
i=0
for w in cat kitten tabby; do
  "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/train/cat/$i.png"; i=$((i + 1))
done
for w in dog puppy hound; do
  "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/train/dog/$i.png"; i=$((i + 1))
done
"$clippo" render --quiet --image-size 32 "a cat" --out "$tmp/test/cat/a.png"
"$clippo" render --quiet --image-size 32 "cats" --out "$tmp/test/cat/b.png"
"$clippo" render --quiet --image-size 32 "a dog" --out "$tmp/test/dog/a.png"
"$clippo" render --quiet --image-size 32 "dogs" --out "$tmp/test/dog/b.png"
CLIPPO_PROGRESS=lines CLIPPO_PROGRESS_INTERVAL=0 "$clippo" fewshot --model "$model" \
  --train-dir "$tmp/train" --test-dir "$tmp/test" --shots 1,3 --seeds 2 --l2 1024,1 --json \
  >"$tmp/dirs.json" 2>"$tmp/err"
check "class folders --json" 0 $? "$tmp/err"
expect "folders JSON" "$tmp/dirs.json" \
  '"representation":"pre_logits","dim":[0-9]*,"classes":2,"train":6,"test":4,"train_embedded":6,"seeds":2'
expect "four results" "$tmp/dirs.json" '"shots":3,"l2":1,"accuracy"'
expect "progress on stderr" "$tmp/err" "clippo fewshot: .*images"
# the same images through `clippo embed --pre-logits` and the features path: same results
ls "$tmp"/train/cat/*.png "$tmp"/train/dog/*.png >"$tmp/trfiles"
ls "$tmp"/test/cat/*.png "$tmp"/test/dog/*.png >"$tmp/tefiles"
mapfile -t trf <"$tmp/trfiles"
mapfile -t tef <"$tmp/tefiles"
"$clippo" embed --model "$model" --pre-logits --images "${trf[@]}" --out "$tmp/trz.npy" \
  >/dev/null 2>&1 && "$clippo" embed --model "$model" --pre-logits --images "${tef[@]}" \
  --out "$tmp/tez.npy" >/dev/null 2>&1
check "embed --pre-logits" 0 $?
printf '0\n0\n0\n1\n1\n1\n' >"$tmp/trz.txt"
printf '0\n0\n1\n1\n' >"$tmp/tez.txt"
"$clippo" fewshot --train-features "$tmp/trz.npy" --train-labels "$tmp/trz.txt" \
  --test-features "$tmp/tez.npy" --test-labels "$tmp/tez.txt" --shots 1,3 --seeds 2 --l2 1024,1 \
  --json >"$tmp/feat.json" 2>"$tmp/err"
check "features of the same images" 0 $? "$tmp/err"
sed 's/.*"results"://' "$tmp/dirs.json" >"$tmp/r1"
sed 's/.*"results"://' "$tmp/feat.json" >"$tmp/r2"
cmp -s "$tmp/r1" "$tmp/r2" && echo "ok: folder results equal the features' results" ||
  { echo "FAIL: folder and features results differ"; cat "$tmp/r1" "$tmp/r2"; fail=1; }
# folders that do not match, a folder without images, too many shots
mkdir -p "$tmp/test2/cat" "$tmp/test2/bird"
cp "$tmp/test/cat/a.png" "$tmp/test2/cat/"; cp "$tmp/test/dog/a.png" "$tmp/test2/bird/"
"$clippo" fewshot --model "$model" --train-dir "$tmp/train" --test-dir "$tmp/test2" \
  >/dev/null 2>"$tmp/err"
check "test folder with another class" 1 $? "$tmp/err"
expect "other class named" "$tmp/err" "class 'bird' is not among the 2 classes"
mkdir -p "$tmp/empty/cat" "$tmp/empty/dog"
"$clippo" fewshot --model "$model" --train-dir "$tmp/train" --test-dir "$tmp/empty" \
  >/dev/null 2>"$tmp/err"
check "test folder without images" 1 $? "$tmp/err"
expect "empty folder named" "$tmp/err" "no image file below .*empty"
"$clippo" fewshot --model "$model" --train-dir "$tmp/train" --test-dir "$tmp/test" --shots 4 \
  >/dev/null 2>"$tmp/err"
check "more shots than a folder holds" 1 $? "$tmp/err"
expect "class folder named" "$tmp/err" "class 0 (cat) has 3 training example(s), fewer than 4 shots"
head -c 40 "$tmp/test/dog/a.png" >"$tmp/test/dog/broken.png"
"$clippo" fewshot --model "$model" --train-dir "$tmp/train" --test-dir "$tmp/test" --shots 1 \
  --seeds 1 >/dev/null 2>"$tmp/err"
check "undecodable test image" 1 $? "$tmp/err"
expect "undecodable file named" "$tmp/err" "broken.png"
rm -f "$tmp/test/dog/broken.png"

if [ -r "${CLIPPO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz" ]; then
  "$clippo" fewshot --model "$model" --fashion-mnist --shots 1,2 --seeds 2 --test-limit 50 \
    >"$tmp/out" 2>"$tmp/err"
  check "--fashion-mnist" 0 $? "$tmp/err"
  expect "Fashion-MNIST table" "$tmp/out" "10 classes, 60000 training examples (.* embedded), 50 test examples"
  expect "Fashion-MNIST row" "$tmp/out" "^ *2 *1024 *[0-9.]*% "
else
  skip "Fashion-MNIST is not installed"
fi
finish
