#!/usr/bin/env bash
# Text/text co-training from the command line (`clippo train --text-pairs`, CLIPPO's C4 pairs
# mixed into every batch) and text-text retrieval (`clippo eval --text-pairs`), with the tiny
# fixture model: help, bad pair files and options (clear errors naming file and line), config
# keys, runs with a TSV, the built-in caption pairs and text pairs only, fraction 0 = no
# co-training, and a stopped run resumed at the same place of both data streams.
set -u
clippo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
fonts="--font $shared/fonts/unifont-9.0.06.hex --font $shared/fonts/unifont_upper-9.0.06.hex"
base=(--init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" --batch-size 4
  --lr 0.01 --quiet)

printf 'a photo of a coat.\tFoto: Mantel\na bag\teine Tasche\n# comment\n\na shirt\tein Hemd\n' \
  >"$tmp/pairs.tsv"
printf 'a dress\tein Kleid\na sandal\teine Sandale\nan ankle boot\teine Stiefelette\n' \
  >>"$tmp/pairs.tsv"

"$clippo" train --help | grep -q -- "--text-pair-fraction"; check "train --help" 0 $?
"$clippo" eval --help | grep -q -- "--text-pairs"; check "eval --help" 0 $?
"$clippo" train "${base[@]}" --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 1.5 \
  --save "$tmp/x.h5" >/dev/null 2>&1
check "fraction above 1: usage error" 2 $?
"$clippo" train "${base[@]}" --text-pairs "$tmp/pairs.tsv" --text-pair-fraction half \
  --save "$tmp/x.h5" >/dev/null 2>&1
check "fraction not a number: usage error" 2 $?
"$clippo" eval --text-pairs "$tmp/pairs.tsv" --tsv "$tmp/pairs.tsv" >/dev/null 2>&1
check "eval: --text-pairs with --tsv" 2 $?

# bad pair files: exit 1, the file and the line named (before any device work)
bad() { # NAME CONTENT(printf) MESSAGE
  printf "$2" >"$tmp/bad.tsv"
  "$clippo" train "${base[@]}" $fonts --text-pairs "$tmp/bad.tsv" --save "$tmp/x.h5" \
    >/dev/null 2>"$tmp/err"
  check "train: $1" 1 $? "$tmp/err"
  expect "train: $1: message" "$tmp/err" "$3"
  "$clippo" eval --model "$fx/model.npz" $fonts --text-pairs "$tmp/bad.tsv" >/dev/null 2>"$tmp/err"
  check "eval: $1" 1 $? "$tmp/err"
  expect "eval: $1: message" "$tmp/err" "$3"
}
bad "missing column" 'a\tb\nonly one column\n' "bad.tsv:2: expected TEXT<TAB>TEXT (2 columns), found 1 column"
bad "three columns" 'a\tb\tc\n' "bad.tsv:1: expected TEXT<TAB>TEXT (2 columns), found 3 columns"
bad "empty text" 'a\t\n' "bad.tsv:1: the second text is empty"
bad "invalid UTF-8" 'ok\tfine\nbad \xff\tx\n' "bad.tsv:2: invalid UTF-8 at byte 5 of the line"
bad "empty file" '' "bad.tsv: no text pairs (the file is empty)"
bad "comments only" '# nothing\n\n' "bad.tsv: no text pairs (only blank and comment lines)"
"$clippo" train "${base[@]}" $fonts --text-pairs "$tmp/missing.tsv" --save "$tmp/x.h5" 2>"$tmp/err"
check "missing pair file" 1 $? "$tmp/err"
expect "missing pair file: message" "$tmp/err" "missing.tsv"
"$clippo" train "${base[@]}" $fonts --text-pair-fraction 0.5 --save "$tmp/x.h5" 2>"$tmp/err"
check "fraction without pairs" 1 $? "$tmp/err"
expect "fraction without pairs: message" "$tmp/err" "needs --text-pairs"
"$clippo" train "${base[@]}" $fonts --text-pairs fmnist-captions:en,xx --save "$tmp/x.h5" \
  2>"$tmp/err"
check "built-in pairs, unknown language" 1 $? "$tmp/err"
expect "unknown language: message" "$tmp/err" "fmnist_captions.json: no language 'xx'"
printf '{"text_pairs": "pairs.tsv", "text_pair_fraction": 2}\n' >"$tmp/c.json"
"$clippo" train "${base[@]}" --config "$tmp/c.json" --save "$tmp/x.h5" 2>"$tmp/err"
check "config: fraction out of range" 1 $? "$tmp/err"
expect "config: message names the key" "$tmp/err" "c.json: 'text_pair_fraction' must be in 0..1"

if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device"
  finish
fi

# 4 pairs a batch, 2 of them text pairs (round(0.5 * 4)); a batch too small for a text pair;
# more text pairs per batch than the file holds
"$clippo" train "${base[@]}" $fonts --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0.1 \
  --steps 1 --save "$tmp/x.h5" 2>"$tmp/err"
check "fraction rounding to no pair" 1 $? "$tmp/err"
expect "no pair: message" "$tmp/err" "0.1 of a batch of 4 is no pair"
printf 'one\tpair\n' >"$tmp/one.tsv"
"$clippo" train "${base[@]}" $fonts --text-pairs "$tmp/one.tsv" --text-pair-fraction 0.5 \
  --steps 1 --save "$tmp/x.h5" 2>"$tmp/err"
check "too few text pairs" 1 $? "$tmp/err"
expect "too few text pairs: message" "$tmp/err" "2 text/text pairs per batch from 1 text pairs"

run() { # LOG ARGS...: train, its stdout in $tmp/out
  local log=$1
  shift
  "$clippo" train "${base[@]}" $fonts --log "$tmp/$log" "$@" >"$tmp/out" 2>"$tmp/err"
}
# --quiet hides the notice: one run without it
"$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" \
  --batch-size 4 $fonts --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0.5 --steps 1 \
  --save "$tmp/n.h5" >/dev/null 2>"$tmp/err"
check "co-training run" 0 $? "$tmp/err"
expect "notice" "$tmp/err" "text/text co-training: 2 of the 4 pairs of every batch from .*pairs.tsv (6 text pairs)"

# straight through vs stopped after step 2 and resumed: the same losses (both streams resume)
run a.jsonl --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0.5 --steps 5 --shuffle \
  --save "$tmp/a.h5"
check "5 steps" 0 $?
run b.jsonl --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0.5 --steps 5 --shuffle \
  --stop-at 2 --save "$tmp/b.h5"
check "stop at 2" 0 $?
"$clippo" train --resume "$tmp/b.h5" --log "$tmp/b.jsonl" --quiet >/dev/null 2>"$tmp/err"
check "resume" 0 $? "$tmp/err"
la=$(grep -o '"loss": [^,]*' "$tmp/a.jsonl" | tr '\n' ' ')
lb=$(grep -o '"loss": [^,]*' "$tmp/b.jsonl" | tr '\n' ' ')
if [ -n "$la" ] && [ "$la" = "$lb" ]; then
  echo "ok: resumed losses equal: $la"
else
  echo "FAIL: straight: $la; resumed: $lb"
  fail=1
fi
# another seed of the pairs' order changes the losses; fraction 0 is no co-training
run c.jsonl --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0.5 --steps 5 --shuffle --seed 1 \
  --save "$tmp/c.h5"
lc=$(grep -o '"loss": [^,]*' "$tmp/c.jsonl" | tr '\n' ' ')
[ "$lc" != "$la" ] && echo "ok: another seed, other losses" ||
  { echo "FAIL: seed 1 gave the same losses"; fail=1; }
run d.jsonl --steps 3 --save "$tmp/d.h5"
run e.jsonl --text-pairs "$tmp/pairs.tsv" --text-pair-fraction 0 --steps 3 --save "$tmp/e.h5"
check "fraction 0" 0 $?
cmp -s <(grep -o '"loss": [^,]*' "$tmp/d.jsonl") <(grep -o '"loss": [^,]*' "$tmp/e.jsonl") &&
  echo "ok: fraction 0 = no text pairs" || { echo "FAIL: fraction 0 changed the run"; fail=1; }

# config keys: the pair file relative to the config's folder, run from elsewhere
mkdir -p "$tmp/cfg" && cp "$tmp/pairs.tsv" "$tmp/cfg/p.tsv"
printf '{"text_pairs": "p.tsv", "text_pair_fraction": 0.25, "steps": 2}\n' >"$tmp/cfg/c.json"
(cd / && "$clippo" train "${base[@]}" $fonts --config "$tmp/cfg/c.json" --save "$tmp/f.h5" \
  --batch-size 4 >"$tmp/out" 2>"$tmp/err")
check "config keys" 0 $? "$tmp/err"
[ -s "$tmp/f.h5" ] && echo "ok: config: checkpoint" || { echo "FAIL: config: no checkpoint"; fail=1; }

# the built-in caption pairs (the program's configs/fmnist_captions.json), and text pairs only
run g.jsonl --text-pairs fmnist-captions:de,zh --steps 2 --save "$tmp/g.h5"
check "built-in pairs" 0 $?
"$clippo" train --init "$fx/model.npz" $fonts --text-pairs fmnist-captions \
  --text-pair-fraction 1 --batch-size 8 --steps 2 --save "$tmp/h.h5" >"$tmp/out" 2>"$tmp/err"
check "text pairs only" 0 $? "$tmp/err"
expect "text pairs only: notice" "$tmp/err" "8 of the 8 pairs of every batch from fmnist-captions:en,de,zh (9720"

# text-text retrieval: table and JSON
"$clippo" eval --model "$fx/model.npz" $fonts --text-pairs "$tmp/pairs.tsv" >"$tmp/out" 2>&1
check "eval --text-pairs" 0 $?
expect "eval: counts" "$tmp/out" "6 first texts, 6 second texts, 6 pairs"
expect "eval: rows" "$tmp/out" "second->first"
# the first 400 pairs: 324 of class 0 (18 x 18), 76 of class 1 (5 German captions)
"$clippo" eval --model "$fx/model.npz" $fonts --text-pairs fmnist-captions:de,en --limit 400 \
  --json >"$tmp/out" 2>/dev/null
check "eval built-in --json" 0 $?
expect "eval JSON" "$tmp/out" '"task":"text_retrieval".*"first_texts":23,"second_texts":36,"pairs":400,"first_to_second":{"recall@1":'
finish
