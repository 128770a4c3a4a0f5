#!/bin/sh
# fortunes_tsv.sh OUT_DIR [FORTUNES_DIR [CLASSES]]
#
# Builds a small, reproducible English text classification set (for `clippo finetune --task tsv`)
# from Debian's fortune cookie collections (packages fortunes, fortunes-min; FORTUNES_DIR
# defaults to /usr/share/games/fortunes): each example is one fortune, the label the name of the
# collection it comes from. CLASSES (a space-separated list of collection names) replaces the
# eight default collections, e.g. German ones from FORTUNES_DIR=/usr/share/games/fortunes/de
# (package fortunes-de).
#
#   - fortunes are the blocks between lines holding only '%'; overstruck characters (X BS Y)
#     keep Y, other control characters, tabs and newlines become spaces, runs of spaces collapse
#     to one, and the text is trimmed;
#   - only fortunes of 1..MAX_CHARS (160) bytes are kept, and texts found in more than one of
#     the chosen collections are dropped (their label would be ambiguous);
#   - each class keeps at most CAP (300) fortunes: those with the smallest hash of their text
#     (a fixed 31-bit polynomial hash computed by awk in the C locale), so the choice does not
#     follow the collections' alphabetical order;
#   - a second hash of the text puts about 1 in 5 examples in dev.tsv, the rest in train.tsv;
#     both start with the header `text<TAB>label` and list examples in hash order.
#
# Uses only POSIX sh, coreutils and awk (mawk or gawk); the output depends only on the input
# files. Prints the number of examples of each class in train, dev and in all.
set -eu

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: $0 OUT_DIR [FORTUNES_DIR [CLASSES]]" >&2
  exit 2
fi
OUT=$1
SRC=${2:-/usr/share/games/fortunes}
# Eight collections with distinct topics and enough short fortunes (see the counts printed).
CLASSES=${3:-"computers science politics work startrek food love education"}
CAP=300
MAX_CHARS=160

for c in $CLASSES; do
  if [ ! -r "$SRC/$c" ]; then
    echo "$0: $SRC/$c is missing (install Debian's fortunes package)" >&2
    exit 1
  fi
done
mkdir -p "$OUT"
LC_ALL=C
export LC_ALL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fortunes_tsv.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# 1. every fortune as: hash1 TAB hash2 TAB text TAB label
for c in $CLASSES; do
  awk -v label="$c" -v maxc="$MAX_CHARS" '
    BEGIN {
      for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
      cur = ""
    }
    function hash(s, mul, off,   h, i) {
      h = off
      for (i = 1; i <= length(s); i++) h = (h * mul + ord[substr(s, i, 1)]) % 2147483647
      return h
    }
    function flush(   t) {
      t = cur
      cur = ""
      while (match(t, /.\010/)) t = substr(t, 1, RSTART - 1) substr(t, RSTART + 2)
      gsub(/[\001-\037\177]/, " ", t)
      gsub(/  +/, " ", t)
      sub(/^ /, "", t)
      sub(/ $/, "", t)
      if (length(t) < 1 || length(t) > maxc) return
      printf "%d\t%d\t%s\t%s\n", hash(t, 31, 7), hash(t, 131, 11), t, label
    }
    { sub(/\r$/, "") }
    $0 == "%" { flush(); next }
    { cur = cur (cur == "" ? "" : "\n") $0 }
    END { flush() }
  ' "$SRC/$c"
done >"$TMP/all"

# 2. drop texts that occur in more than one collection (and repeats within one), cap each class
awk -F '\t' 'NR == FNR { if (!(($3, $4) in seen)) { seen[$3, $4] = 1; n[$3]++ }; next }
             n[$3] == 1 && !(($3) in done) { done[$3] = 1; print }' "$TMP/all" "$TMP/all" |
  sort -t "$(printf '\t')" -k4,4 -k1,1n -k3,3 >"$TMP/unique"
awk -F '\t' -v cap="$CAP" '{ if (++k[$4] <= cap) print }' "$TMP/unique" |
  sort -t "$(printf '\t')" -k1,1n -k3,3 >"$TMP/kept"

# 3. split by the second hash
printf 'text\tlabel\n' >"$OUT/train.tsv"
printf 'text\tlabel\n' >"$OUT/dev.tsv"
awk -F '\t' -v train="$OUT/train.tsv" -v dev="$OUT/dev.tsv" \
  '{ print $3 "\t" $4 >> (($2 % 5) == 0 ? dev : train) }' "$TMP/kept"

# 4. the class counts
echo "fortunes set in $OUT: $(($(wc -l <"$OUT/train.tsv") - 1)) train, $(($(wc -l <"$OUT/dev.tsv") - 1)) dev"
printf '%-12s %6s %6s %6s\n' class train dev all
for c in $CLASSES; do
  tr=$(awk -F '\t' -v c="$c" 'NR > 1 && $2 == c { n++ } END { print n + 0 }' "$OUT/train.tsv")
  dv=$(awk -F '\t' -v c="$c" 'NR > 1 && $2 == c { n++ } END { print n + 0 }' "$OUT/dev.tsv")
  printf '%-12s %6d %6d %6d\n' "$c" "$tr" "$dv" $((tr + dv))
done
