#!/usr/bin/env bash
# `clippo index --out` naming an existing file that is not an index (issue 12 point 8): refused
# before any work with a message that says what the file is, the file left byte for byte as it
# was, and no suggestion to delete it. `search --index` on such files says the same.
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
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}

mkdir -p "$tmp/img" "$tmp/folder.h5"
"$clippo" render --quiet --image-size 32 "apple" --out "$tmp/img/apple.png"
printf 'my notes, not an index\n' >"$tmp/notes.h5"
cp "$tmp/img/apple.png" "$tmp/picture.h5"
"$clippo" convert --quiet "$model" "$tmp/checkpoint.h5" # an HDF5 file that is not an index
: >"$tmp/empty.h5"

# refused: exit 1, the file unchanged, what it is said, never "delete"
refused() { # NAME FILE PATTERN
  local before after
  before=$(sha256sum <"$2")
  touch -d '2001-01-01' "$2"
  "$clippo" index --model "$model" --out "$2" "$tmp/img" >/dev/null 2>"$tmp/err"
  check "index --out $1 refused" 1 $? "$tmp/err"
  expect "index --out $1: says what it is" "$tmp/err" "$3"
  expect "index --out $1: left as it is" "$tmp/err" "left as it is"
  if grep -qi "delete\|remove it" "$tmp/err"; then
    echo "FAIL: index --out $1: the message suggests deleting the file:"; cat "$tmp/err"; fail=1
  fi
  after=$(sha256sum <"$2")
  [ "$before" = "$after" ] && [ "$(stat -c %Y "$2")" = "$(date -d 2001-01-01 +%s)" ] &&
    echo "ok: index --out $1: the file is untouched" ||
    { echo "FAIL: index --out $1: the file was modified"; fail=1; }
  "$clippo" search --index "$2" --model "$model" "apple" >/dev/null 2>"$tmp/err"
  check "search --index $1 refused" 1 $? "$tmp/err"
  expect "search --index $1: says what it is" "$tmp/err" "$3"
}
refused "a text file" "$tmp/notes.h5" "notes.h5 is not a clippo index (not an HDF5 file)"
refused "an image" "$tmp/picture.h5" "picture.h5 is not a clippo index (not an HDF5 file)"
refused "a checkpoint" "$tmp/checkpoint.h5" "checkpoint.h5 is an HDF5 file but not a clippo index"
refused "an empty file" "$tmp/empty.h5" "empty.h5 is not a clippo index"
ls -A "$tmp" | grep -q "tmp" && { echo "FAIL: temporary files left:"; ls -la "$tmp"; fail=1; }

"$clippo" index --model "$model" --out "$tmp/folder.h5" "$tmp/img" >/dev/null 2>"$tmp/err"
check "index --out a folder refused" 1 $? "$tmp/err"
expect "index --out a folder: says so" "$tmp/err" "folder.h5 is a folder"

# a damaged index (cut short): refused the same way, not deleted
if "$clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  "$clippo" index --quiet --model "$model" --out "$tmp/ix.h5" "$tmp/img"; check "an index" 0 $?
  head -c 1200 "$tmp/ix.h5" >"$tmp/cut.h5"
  cp "$tmp/cut.h5" "$tmp/cut.orig"
  "$clippo" index --model "$model" --out "$tmp/cut.h5" "$tmp/img" >/dev/null 2>"$tmp/err"
  check "a damaged index refused" 1 $? "$tmp/err"
  expect "damaged: says so" "$tmp/err" "cut.h5.*damaged"
  grep -qi "delete" "$tmp/err" && { echo "FAIL: suggests deleting"; cat "$tmp/err"; fail=1; }
  cmp -s "$tmp/cut.h5" "$tmp/cut.orig" && echo "ok: the damaged index is untouched" ||
    { echo "FAIL: the damaged index was modified"; fail=1; }
else
  skip "damaged index (no OpenCL device)"
fi
finish
