#!/usr/bin/env bash
# `clippo embed` outputs and inputs (issue 12 point 9): --out by extension (.npy, .json,
# .jsonl, .csv, - for JSON lines on stdout), other extensions refused before any work; inline
# --text (repeatable) and --texts - (stdin); a binary or non-UTF-8 file given as a text file is
# an error naming the file and the line.
set -u
clippo=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # the test runs in its own folder
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
shared=$(cd "$shared" && pwd)
fx=$shared/fixtures/tiny
model=$fx/model.npz
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
cd "$tmp" || exit 1

# ---- usage errors: nothing is written ------------------------------------------------------
for out in e.txt e.npz e json; do
  "$clippo" embed --model "$model" --text "a" --out "$out" >/dev/null 2>"$tmp/err"
  check "--out $out refused" 2 $? "$tmp/err"
  expect "--out $out: the formats are listed" "$tmp/err" "use .npy, .json, .jsonl, .csv, or -"
  [ -e "$out" ] && { echo "FAIL: --out $out was created"; fail=1; }
done
"$clippo" embed --model "$model" --texts "$fx/texts.txt" --text "a" --out e.npy >/dev/null 2>&1
check "--texts and --text together" 2 $?
"$clippo" embed --model "$model" a.png --out e.npy >/dev/null 2>"$tmp/err"
check "an image without --images" 2 $? "$tmp/err"
"$clippo" embed --model "$model" --out e.npy >/dev/null 2>&1
check "no input" 2 $?

# ---- text files that are not text: the file and the line are named ------------------------
printf 'a photo\nof \000 nothing\n' >"$tmp/nul.txt"
"$clippo" embed --model "$model" --texts "$tmp/nul.txt" --out e.npy >/dev/null 2>"$tmp/err"
check "a NUL byte" 1 $? "$tmp/err"
expect "NUL: file and line" "$tmp/err" "nul.txt:2: a NUL byte"
printf 'fine\nstill fine\nbad \377 byte\n' >"$tmp/latin.txt"
"$clippo" embed --model "$model" --texts "$tmp/latin.txt" --out e.npy >/dev/null 2>"$tmp/err"
check "invalid UTF-8" 1 $? "$tmp/err"
expect "invalid UTF-8: file and line" "$tmp/err" "latin.txt:3: invalid UTF-8 (byte 0xff"
printf '\xed\xa0\x80\n' >"$tmp/surrogate.txt" # UTF-8 of a UTF-16 surrogate
"$clippo" embed --model "$model" --texts "$tmp/surrogate.txt" --out e.npy >/dev/null 2>"$tmp/err"
check "a surrogate" 1 $? "$tmp/err"
head -c 3000 "$model" >"$tmp/model.bin"
"$clippo" embed --model "$model" --texts "$tmp/model.bin" --out e.npy >/dev/null 2>"$tmp/err"
check "a binary file" 1 $? "$tmp/err"
expect "binary: named" "$tmp/err" "model.bin:1: "
printf 'x\xffy' | "$clippo" embed --model "$model" --texts - --out e.npy >/dev/null 2>"$tmp/err"
check "binary on stdin" 1 $? "$tmp/err"
expect "stdin named" "$tmp/err" "<stdin>:1: invalid UTF-8"
[ -e e.npy ] && { echo "FAIL: e.npy written after errors"; fail=1; }

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi

# ---- the formats ---------------------------------------------------------------------------
printf '\357\273\277a red circle\r\na blue square\n' >"$tmp/two.txt" # a BOM and CRLF
"$clippo" embed --model "$model" --text "a red circle" --text "a blue square" --out - \
  >"$tmp/stdout.jsonl" 2>"$tmp/err"
check "--text twice --out -" 0 $? "$tmp/err"
[ "$(wc -l <"$tmp/stdout.jsonl")" = 2 ] && echo "ok: two JSON lines on stdout" ||
  { echo "FAIL: stdout:"; cat "$tmp/stdout.jsonl"; fail=1; }
expect "JSON line 1" "$tmp/stdout.jsonl" '^{"index": 0, "text": "a red circle", "embedding": \[-\?[0-9]'
[ -e ./- ] && { echo "FAIL: a file named '-' was created"; fail=1; }
"$clippo" embed --model "$model" --texts - --out "$tmp/e.jsonl" <"$tmp/two.txt" 2>"$tmp/err"
check "--texts - (stdin) to .jsonl" 0 $? "$tmp/err"
cmp -s "$tmp/e.jsonl" "$tmp/stdout.jsonl" && echo "ok: stdin, BOM and CRLF: same as --text" ||
  { echo "FAIL: .jsonl differs from --out -"; diff "$tmp/e.jsonl" "$tmp/stdout.jsonl"; fail=1; }
"$clippo" embed --model "$model" --texts "$tmp/two.txt" --out "$tmp/e.json"
check ".json" 0 $?
"$clippo" embed --model "$model" --texts "$tmp/two.txt" --out "$tmp/E.CSV"
check ".CSV" 0 $?
"$clippo" embed --model "$model" --texts "$tmp/two.txt" --out "$tmp/e.npy"
check ".npy" 0 $?
head -c 6 "$tmp/e.npy" | od -An -c | grep -q "N   U   M   P   Y" && echo "ok: .npy is NumPy" ||
  { echo "FAIL: .npy magic"; fail=1; }
head -c 1 "$tmp/e.json" | grep -q '\[' && tail -c 2 "$tmp/e.json" | grep -q '\]' &&
  echo "ok: .json is one array" || { echo "FAIL: .json"; cat "$tmp/e.json"; fail=1; }
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==2 and len(d[1]["embedding"])==32, d' "$tmp/e.json"
  check ".json parses (python3)" 0 $?
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/e.jsonl"
  check ".jsonl parses (python3)" 0 $?
fi
head -1 "$tmp/E.CSV" | grep -q '^index,text,z0,z1,.*,z31$' && echo "ok: CSV header" ||
  { echo "FAIL: CSV header: $(head -1 "$tmp/E.CSV")"; fail=1; }
sed -n 2p "$tmp/E.CSV" | grep -q '^0,"a red circle",' && echo "ok: CSV row" ||
  { echo "FAIL: CSV row"; fail=1; }
# the same numbers everywhere: CSV vs JSON lines (text) vs .npy (float32 bits, via od)
csv=$(sed -n 3p "$tmp/E.CSV" | cut -d, -f3- | tr ',' '\n')
jsl=$(sed -n 2p "$tmp/e.jsonl" | sed 's/.*\[//; s/\].*//' | tr -d ' ' | tr ',' '\n')
[ "$csv" = "$jsl" ] && echo "ok: CSV = JSON lines" || { echo "FAIL: CSV and JSON lines differ"; fail=1; }
hlen=$(od -An -tu2 -j8 -N2 --endian=little "$tmp/e.npy" | tr -d ' ')
npy=$(od -An -v -tf4 -w4 -j$((10 + hlen + 32 * 4)) --endian=little "$tmp/e.npy" | tr -d ' ')
paste <(echo "$csv") <(echo "$npy") | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6 || $2 == "") bad = 1 }
  END { exit bad }' && echo "ok: .npy = CSV" || { echo "FAIL: .npy and CSV differ"; fail=1; }
[ "$(stat -c %s "$tmp/e.npy")" = $((10 + hlen + 2 * 32 * 4)) ] && echo "ok: .npy size" ||
  { echo "FAIL: .npy size"; fail=1; }

# images: the input column names the files
"$clippo" render --quiet --image-size 32 "apple" --out "$tmp/a.png"
"$clippo" embed --model "$model" --images "$tmp/a.png" "$tmp/a.png" --out "$tmp/i.csv" 2>"$tmp/err"
check "images to .csv" 0 $? "$tmp/err"
sed -n 3p "$tmp/i.csv" | grep -q "^1,\"$tmp/a.png\"," && echo "ok: image names in the CSV" ||
  { echo "FAIL: image CSV"; head -3 "$tmp/i.csv" | cut -c1-120; fail=1; }
"$clippo" embed --model "$model" --images="$fx/images.npy" --out - 2>"$tmp/err" | head -1 |
  grep -q '"image": ".*images.npy\[0\]"' && echo "ok: .npy rows named" || { echo "FAIL: npy rows"; fail=1; }
finish
