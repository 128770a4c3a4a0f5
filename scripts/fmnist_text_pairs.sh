#!/bin/sh
# Writes the text pairs of a caption file (configs/fmnist_captions.json) as a TSV on stdout: the
# pairs `clippo train --text-pairs fmnist-captions[:LANGS]` builds in memory, in the same order
# (for every two of the languages, in the order given: every class, every template of the
# first language, every template of the second). Needs jq.
#
#   scripts/fmnist_text_pairs.sh [LANG,LANG...] [CAPTIONS.json] > pairs.tsv
#   (default en,de,zh and configs/fmnist_captions.json: 3 x 10 x 18 x 18 = 9720 lines)
set -eu
langs=${1:-en,de,zh}
caps=${2:-$(dirname "$0")/../configs/fmnist_captions.json}
if ! command -v jq >/dev/null 2>&1; then
  echo "fmnist_text_pairs.sh: needs jq (apt-get install jq)" >&2
  exit 1
fi
jq -r --arg langs "$langs" '
  ($langs | split(",")) as $ls
  | .languages as $L
  | ($ls[] | select($L[.] == null) | error("no language \(.) in the caption file")),
    (range(0; $ls | length) as $i | range($i + 1; $ls | length) as $j
     | $L[$ls[$i]] as $a | $L[$ls[$j]] as $b
     | range(0; $a.classes | length) as $y
     | $a.templates[] as $ta | $b.templates[] as $tb
     | ($ta | split("{}") | join($a.classes[$y])) + "\t" + ($tb | split("{}") | join($b.classes[$y])))
' "$caps"
