#!/usr/bin/env bash
# Zero-shot defaults and text inputs (issue 12, point 11): the templates default to the prompts
# a checkpoint records (attribute "prompts"), else clip_best, and the number of prompts
# embedded is printed; duplicate class names get a warning; a UTF-8 byte order mark is dropped
# from classes, templates, caption (TSV), --text-file and .hex font files; a classes-file line
# "blue square, blue box" is labelled "blue square".
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
model=$shared/fixtures/tiny/model.npz
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
bom=$'\xef\xbb\xbf'

# render --text-file: the mark is not drawn (no device needed)
printf 'a cat' >"$tmp/t.txt"
printf '%sa cat' "$bom" >"$tmp/tb.txt"
"$clippo" render --quiet --image-size 32 --text-file "$tmp/t.txt" --out "$tmp/t.pgm"
"$clippo" render --quiet --image-size 32 --text-file "$tmp/tb.txt" --out "$tmp/tb.pgm"
check "render --text-file with a BOM" 0 $?
cmp -s "$tmp/t.pgm" "$tmp/tb.pgm" && echo "ok: BOM not rendered" ||
  { echo "FAIL: render draws the byte order mark"; fail=1; }

# a Unifont .hex file that starts with the mark loads the same glyphs
lo=$shared/fonts/unifont-9.0.06.hex
{ printf '%s' "$bom"; cat "$lo"; } >"$tmp/bom.hex"
"$clippo" render --quiet --font "$tmp/bom.hex" --image-size 32 "a cat" --out "$tmp/fb.pgm"
check "render with a .hex font that has a BOM" 0 $?
"$clippo" render --quiet --font "$lo" --image-size 32 "a cat" --out "$tmp/f.pgm"
cmp -s "$tmp/f.pgm" "$tmp/fb.pgm" && echo "ok: same glyphs" ||
  { echo "FAIL: a BOM changes the font"; fail=1; }

if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
for w in cat dog; do "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/$w.png"; done
zs() { "$clippo" zeroshot --model "$1" --cache off --json "${@:2}"; }

# default templates: clip_best (8), and the count of prompts embedded
zs "$model" --classes "cat,dog" "$tmp/cat.png" >"$tmp/o" 2>"$tmp/e"
check "default templates" 0 $? "$tmp/e"
expect "clip_best by default, prompt count printed" "$tmp/e" \
  "2 classes x 8 templates (clip_best) = 16 prompts: 16 embedded, 0 from the cache"
zs "$model" --classes "cat,dog" --templates clip_paper "$tmp/cat.png" >/dev/null 2>"$tmp/e"
expect "--templates clip_paper" "$tmp/e" "2 classes x 81 templates (clip_paper) = 162 prompts"

# a checkpoint that records its training prompts uses them
"$clippo" convert --quiet --attr "prompts=a photo of a {}.
a drawing of the {}" "$model" "$tmp/rec.h5"
check "convert --attr prompts" 0 $?
zs "$tmp/rec.h5" --classes "cat,dog" "$tmp/cat.png" >"$tmp/o2" 2>"$tmp/e"
check "recorded prompts" 0 $? "$tmp/e"
expect "recorded prompts used" "$tmp/e" \
  "2 classes x 2 templates (the model's training prompts) = 4 prompts"
printf 'a photo of a {}.\na drawing of the {}\n' >"$tmp/same.txt"
zs "$tmp/rec.h5" --classes "cat,dog" --templates "$tmp/same.txt" "$tmp/cat.png" >"$tmp/o3" 2>/dev/null
cmp -s "$tmp/o2" "$tmp/o3" && echo "ok: recorded prompts = the same templates file" ||
  { echo "FAIL: recorded prompts give other scores"; cat "$tmp/o2" "$tmp/o3"; fail=1; }
zs "$tmp/rec.h5" --classes "cat,dog" --templates none "$tmp/cat.png" >/dev/null 2>"$tmp/e"
expect "--templates overrides the recorded prompts" "$tmp/e" "x 1 templates (none)"

# duplicate class names (the same prompt name after canonicalisation) warn
zs "$model" --classes "cat,dog,Cat!" "$tmp/cat.png" >/dev/null 2>"$tmp/e"
check "duplicate classes still run" 0 $? "$tmp/e"
expect "duplicate warning" "$tmp/e" "warning: classes 1 'cat' and 3 'Cat!' have the same prompt name 'cat'"
zs "$model" --classes "cat,dog" "$tmp/cat.png" >/dev/null 2>"$tmp/e"
if grep -q "same prompt name" "$tmp/e"; then echo "FAIL: warning without duplicates"; fail=1; else
  echo "ok: no warning without duplicates"; fi

# classes file: BOM dropped, the first alias is the label
printf '%sblue square, blue box\ncat\n' "$bom" >"$tmp/classes.txt"
zs "$model" --classes-file "$tmp/classes.txt" --top-k 2 "$tmp/cat.png" >"$tmp/o" 2>"$tmp/e"
check "classes file with a BOM" 0 $? "$tmp/e"
expect "label is the first alias" "$tmp/o" '"label":"blue square"[,}]'
if grep -q $'\xef\xbb\xbf' "$tmp/o"; then echo "FAIL: BOM kept in a label"; fail=1; else
  echo "ok: no BOM in labels"; fi

# templates file with a BOM: the same scores as without
printf 'a photo of a {}.\nart of the {}\n' >"$tmp/tp.txt"
printf '%sa photo of a {}.\nart of the {}\n' "$bom" >"$tmp/tpb.txt"
zs "$model" --classes "cat,dog" --no-canonicalize --templates "$tmp/tp.txt" "$tmp/cat.png" >"$tmp/a" 2>/dev/null
zs "$model" --classes "cat,dog" --no-canonicalize --templates "$tmp/tpb.txt" "$tmp/cat.png" >"$tmp/b" 2>/dev/null
check "templates file with a BOM" 0 $?
cmp -s "$tmp/a" "$tmp/b" && echo "ok: BOM dropped from templates" ||
  { echo "FAIL: BOM changes the templates"; cat "$tmp/a" "$tmp/b"; fail=1; }

# eval --tsv: a BOM before the first image path
printf '%scat.png\ta cat\ndog.png\ta dog\n' "$bom" >"$tmp/caps.tsv"
"$clippo" eval --model "$model" --cache off --tsv "$tmp/caps.tsv" --json >"$tmp/o" 2>"$tmp/e"
check "TSV with a BOM" 0 $? "$tmp/e"
expect "both images used" "$tmp/o" '"images":2,"captions":2'
finish
