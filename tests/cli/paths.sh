#!/usr/bin/env bash
# Working from any folder (issue 12, points 3 and 5), with the program in its build folder: the
# default model, captions, configs and prompt files come from the data folder (the source tree
# here, CLIPPO_DATA_DIR when set); paths inside a --config file resolve against its folder;
# every model command defaults to the default model; search to the model its index records.
set -u
clippo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
unset CLIPPO_MODEL CLIPPO_DATA_DIR
export XDG_DATA_HOME=$tmp/xdg # the default index lives here, never in the user's home
work=$tmp/work
mkdir -p "$work"
cd "$work" || exit 1

# no device needed: a missing default model names the variable that pointed elsewhere
CLIPPO_DATA_DIR=$tmp/nowhere "$clippo" zeroshot --classes a,b x.png >/dev/null 2>"$tmp/err"
check "CLIPPO_DATA_DIR without the model" 1 $? "$tmp/err"
expect "error names CLIPPO_DATA_DIR" "$tmp/err" "weights/fmnist.h5 is not in CLIPPO_DATA_DIR=$tmp/nowhere"
"$clippo" search "shoe" >/dev/null 2>"$tmp/err"
check "search without an index" 1 $? "$tmp/err"
expect "search says where the default index is" "$tmp/err" "no index at $tmp/xdg/clippo/index.h5"

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

default_model=$src/weights/fmnist.h5
tiny='{"width": 32, "depth": 1, "heads": 2, "mlp_dim": 64, "patch": 16, "image_size": 32, "out_dim": 16}'

# a config's relative input paths resolve against its folder (reported absolute), not here
mkdir -p "$tmp/cfg"
printf '{"model": %s, "images": "x.npy", "texts": "t.txt", "steps": 1, "save": "o.h5"}\n' \
  "$tiny" >"$tmp/cfg/c.json"
"$clippo" train --config "$tmp/cfg/c.json" >/dev/null 2>"$tmp/err"
check "config with missing inputs" 1 $? "$tmp/err"
expect "config inputs resolve against its folder" "$tmp/err" "$tmp/cfg/x.npy"
[ ! -e o.h5 ] && [ ! -e "$tmp/cfg/o.h5" ] && echo "ok: nothing saved after the error" ||
  { echo "FAIL: a checkpoint was written"; fail=1; }
"$clippo" render --quiet --image-size 64 "bag" --out "$work/bag.png"
printf 'a bag\nan ankle boot\n' >texts.txt

# every model command defaults to the default model, from a folder outside the tree
"$clippo" embed --texts texts.txt --out e.npy 2>"$tmp/err"
check "embed without --model" 0 $? "$tmp/err"
grep -a -q "'shape': (2, 128)" e.npy && echo "ok: embed used the default model (128-dim)" ||
  { echo "FAIL: embed output is not (2, 128)"; head -c 128 e.npy; fail=1; }
"$clippo" zeroshot --classes "bag,ankle boot,shirt" --templates none bag.png >"$tmp/out" 2>"$tmp/err"
check "zeroshot without --model" 0 $? "$tmp/err"
expect "zeroshot classifies" "$tmp/out" "bag"
# prompt and classes files named as in the source tree resolve in the data folder
printf 'bag\nankle boot\nshirt\n' >"$tmp/classes.txt"
"$clippo" zeroshot --classes-file "$tmp/classes.txt" --templates configs/fmnist_prompts_en.txt \
  bag.png >"$tmp/out" 2>"$tmp/err"
check "zeroshot --templates configs/... from another folder" 0 $? "$tmp/err"

# CLIPPO_DATA_DIR points at another data folder
mkdir -p "$tmp/data/weights"
ln -s "$default_model" "$tmp/data/weights/fmnist.h5"
CLIPPO_DATA_DIR=$tmp/data "$clippo" zeroshot --classes "bag,shirt" --templates none bag.png \
  >/dev/null 2>"$tmp/err"
check "CLIPPO_DATA_DIR with the model" 0 $? "$tmp/err"

# index and search without --model, --out, --index: the per-user index, the recorded model
mkdir -p imgs
"$clippo" render --quiet --image-size 64 "shoe" --out imgs/shoe.png
"$clippo" render --quiet --image-size 64 "coat" --out imgs/coat.png
"$clippo" index imgs 2>"$tmp/err"
check "index with defaults" 0 $? "$tmp/err"
[ -f "$tmp/xdg/clippo/index.h5" ] && echo "ok: default index in XDG_DATA_HOME" ||
  { echo "FAIL: no $tmp/xdg/clippo/index.h5"; cat "$tmp/err"; fail=1; }
(cd "$tmp" && "$clippo" search "coat") >"$tmp/out" 2>"$tmp/err"
check "search with defaults, from another folder" 0 $? "$tmp/err"
expect "search finds the image" "$tmp/out" "imgs/coat.png"
# the index records the model's absolute path: a relative --model works from elsewhere later
cp "$default_model" rel.h5
"$clippo" index --model rel.h5 --out "$tmp/rel_ix.h5" imgs 2>/dev/null
(cd "$tmp" && "$clippo" search --index rel_ix.h5 "coat") >/dev/null 2>"$tmp/err"
check "search: model recorded by a relative path" 0 $? "$tmp/err"
cp "$default_model" "$tmp/moved.h5"
"$clippo" index --model "$tmp/moved.h5" --out "$tmp/moved_ix.h5" imgs 2>/dev/null
rm "$tmp/moved.h5"
"$clippo" search --index "$tmp/moved_ix.h5" "coat" >/dev/null 2>"$tmp/err"
check "search: the recorded model is gone" 1 $? "$tmp/err"
expect "search names the recorded model" "$tmp/err" "built with model $tmp/moved.h5, which is not readable"

# eval and train with their defaults, when Fashion-MNIST is installed
fm=${CLIPPO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$fm/t10k-images-idx3-ubyte.gz" ]; then
  skip "Fashion-MNIST not installed ($fm): eval and train defaults not run"
  finish
fi
"$clippo" eval --fashion-mnist --limit 50 --templates none --examples 0 >"$tmp/out" 2>"$tmp/err"
check "eval --fashion-mnist from another folder" 0 $? "$tmp/err"
expect "eval used the default model" "$tmp/out" "model $default_model"
"$clippo" train --fashion-mnist --model "$tiny" --limit 8 --batch-size 4 --steps 1 --quiet \
  --save x.h5 2>"$tmp/err"
check "train --fashion-mnist: default captions" 0 $? "$tmp/err"
# the installed config by its source-tree name, its captions from its own folder, its log here
"$clippo" train --config configs/train_fmnist_tiny.json --limit 8 --batch-size 4 --steps 1 \
  --quiet --save y.h5 2>"$tmp/err"
check "train --config configs/... from another folder" 0 $? "$tmp/err"
[ -f fmnist_tiny.jsonl ] && [ ! -e "$src/configs/fmnist_tiny.jsonl" ] &&
  echo "ok: the config's log is written in the current folder" ||
  { echo "FAIL: log not in the current folder"; cat "$tmp/err"; fail=1; }
finish
