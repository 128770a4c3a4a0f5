#!/usr/bin/env bash
# scripts/fmnist_text_pairs.sh writes the pairs that `clippo train --text-pairs fmnist-captions`
# builds in memory: 9720 lines for en,de,zh, and a run with the TSV trains exactly as a run with
# the built-in set (same losses, bit for bit). Skipped without jq or an OpenCL device.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
src=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
fonts="--font $shared/fonts/unifont-9.0.06.hex --font $shared/fonts/unifont_upper-9.0.06.hex"

if ! command -v jq >/dev/null 2>&1; then
  skip "no jq"
  finish
fi
sh "$src/scripts/fmnist_text_pairs.sh" >"$tmp/all.tsv"
check "script" 0 $?
[ "$(wc -l <"$tmp/all.tsv")" = 9720 ] && echo "ok: 9720 pairs" ||
  { echo "FAIL: $(wc -l <"$tmp/all.tsv") pairs"; fail=1; }
sh "$src/scripts/fmnist_text_pairs.sh" de,xx >/dev/null 2>"$tmp/err"
check "script: unknown language" 5 $? "$tmp/err"
expect "script: message" "$tmp/err" "no language xx"
sh "$src/scripts/fmnist_text_pairs.sh" zh,de "$src/configs/fmnist_captions.json" >"$tmp/zd.tsv"
head -1 "$tmp/zd.tsv" | grep -q "^一张T恤/上衣的照片	Foto: T-Shirt/Top$" && echo "ok: zh,de first pair" ||
  { echo "FAIL: zh,de first pair: $(head -1 "$tmp/zd.tsv")"; fail=1; }

if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device"
  finish
fi
n=0
for spec in "$tmp/all.tsv" fmnist-captions "$tmp/zd.tsv" fmnist-captions:zh,de; do
  n=$((n + 1))
  "$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" $fonts \
    --batch-size 4 --shuffle --lr 0.01 --steps 3 --text-pairs "$spec" --text-pair-fraction 0.5 \
    --quiet --save "$tmp/$n.h5" --log "$tmp/$n.jsonl"
  check "train with $spec" 0 $?
done
loss() { grep -o '"loss": [^,]*' "$1" | tr '\n' ' '; }
[ "$(loss "$tmp/1.jsonl")" = "$(loss "$tmp/2.jsonl")" ] && echo "ok: en,de,zh TSV = built-in" ||
  { echo "FAIL: TSV $(loss "$tmp/1.jsonl"), built-in $(loss "$tmp/2.jsonl")"; fail=1; }
[ "$(loss "$tmp/3.jsonl")" = "$(loss "$tmp/4.jsonl")" ] && echo "ok: zh,de TSV = built-in" ||
  { echo "FAIL: TSV $(loss "$tmp/3.jsonl"), built-in $(loss "$tmp/4.jsonl")"; fail=1; }
[ "$(loss "$tmp/1.jsonl")" != "$(loss "$tmp/3.jsonl")" ] && echo "ok: other languages, other run" ||
  { echo "FAIL: en,de,zh and zh,de trained the same"; fail=1; }
finish
