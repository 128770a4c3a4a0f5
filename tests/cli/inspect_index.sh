#!/usr/bin/env bash
# `clippo inspect` on an index made by `clippo index` says what it is (issue 12, point 14): "this
# is an index", its size and model, and how to search it; exit 0. A file that is neither an
# index nor a checkpoint is still an error naming it.
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
if ! "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device"
  finish
fi
mkdir -p "$tmp/imgs"
for w in cat dog; do "$clippo" render --quiet --image-size 32 "$w" --out "$tmp/imgs/$w.png"; done
"$clippo" index --quiet --model "$model" --out "$tmp/idx.h5" "$tmp/imgs" >/dev/null 2>"$tmp/e"
check "index built" 0 $? "$tmp/e"
"$clippo" inspect "$tmp/idx.h5" >"$tmp/o" 2>"$tmp/e"
check "inspect an index" 0 $? "$tmp/e"
expect "says it is an index" "$tmp/o" "idx.h5: this is an index made by \`clippo index\`, not a checkpoint"
expect "image count" "$tmp/o" "^images: 2, embedding size 32$"
expect "model path" "$tmp/o" "^model: .*model.npz"
expect "how to search" "$tmp/o" "clippo search --index .*idx.h5"
"$clippo" inspect --raw "$tmp/idx.h5" >"$tmp/o" 2>"$tmp/e"
check "inspect --raw an index" 0 $? "$tmp/e"
expect "--raw says it too" "$tmp/o" "this is an index"
printf 'garbage' >"$tmp/g.h5"
"$clippo" inspect "$tmp/g.h5" >/dev/null 2>"$tmp/e"
check "neither index nor checkpoint" 1 $? "$tmp/e"
expect "error names the file" "$tmp/e" "g.h5"
finish
