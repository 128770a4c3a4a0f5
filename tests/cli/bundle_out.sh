#!/usr/bin/env bash
# scripts/bundle.sh --out DIR replaces only an earlier bundle: a folder of the user's (or one
# with anything a bundle does not hold), a file or a symbolic link is refused with exit 2 and left
# as it was (it used to be removed with rm -rf before the bundle was written); likewise
# bundle-root-check.sh's --out and --root.
set -u
clippo=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
src=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bundle=$src/scripts/bundle.sh
build=$(dirname "$clippo")
w=$tmp/w # the user's things (the outputs of bundle.sh go beside it)
mkdir "$w"

# refused DESCRIPTION PATH MESSAGE: bundle.sh into PATH exits 2 naming it, nothing changed.
refused() {
  local before after
  before=$(cd "$w" && find . -printf '%p %s %y %l\n' | sort | md5sum)
  bash "$bundle" --build "$build" --no-tests --out "$2" >"$tmp/o" 2>"$tmp/e"
  check "$1: refused" 2 $? "$tmp/e"
  expect "$1: named" "$tmp/e" "$3"
  after=$(cd "$w" && find . -printf '%p %s %y %l\n' | sort | md5sum)
  [ "$before" = "$after" ] && echo "ok: $1: nothing changed" ||
    { echo "FAIL: $1: the folder changed"; fail=1; }
}

mkdir -p "$w/mine/bin"
echo "notes" >"$w/mine/notes.txt"
refused "a folder of the user's" "$w/mine" "'$w/mine' exists and is not a bundle"
echo "a file" >"$w/file"
refused "a regular file" "$w/file" "'$w/file' exists and is not a bundle"
ln -s "$w/mine" "$w/link"
refused "a symbolic link" "$w/link" "'$w/link' exists and is not a bundle"
# A folder that looks like a bundle but holds something else too.
mkdir -p "$w/fake/bin"
: >"$w/fake/MANIFEST.txt"
: >"$w/fake/bin/clippo"
echo "thesis" >"$w/fake/thesis.tex"
refused "a bundle with a file of the user's" "$w/fake" "holds 'thesis.tex'"
echo "hidden" >"$w/fake/.hidden"
rm "$w/fake/thesis.tex"
refused "a bundle with a hidden file" "$w/fake" "holds '.hidden'"

# scripts/bundle-root-check.sh: its --out replaces only earlier results, its --root only a root
# it made (both checked before any work, as any user).
root_check=$src/scripts/bundle-root-check.sh
before=$(cd "$w" && find . -printf '%p %s %y %l\n' | sort | md5sum)
bash "$root_check" --out "$w/mine" >"$tmp/o" 2>"$tmp/e"
check "bundle-root-check --out a folder of the user's: refused" 2 $? "$tmp/e"
expect "bundle-root-check --out: named" "$tmp/e" "'$w/mine' exists and is not an earlier results folder"
bash "$root_check" --root "$w/mine" --out "$tmp/results" >"$tmp/o" 2>"$tmp/e"
check "bundle-root-check --root a folder of the user's: refused" 2 $? "$tmp/e"
expect "bundle-root-check --root: named" "$tmp/e" "'$w/mine' exists and is not a root made"
[ ! -e "$tmp/results" ] && echo "ok: no results folder made" ||
  { echo "FAIL: $tmp/results made"; fail=1; }
after=$(cd "$w" && find . -printf '%p %s %y %l\n' | sort | md5sum)
[ "$before" = "$after" ] && echo "ok: bundle-root-check changed nothing" ||
  { echo "FAIL: bundle-root-check changed the user's folder"; fail=1; }

# With patchelf, an earlier bundle is replaced and a new folder made.
if command -v patchelf >/dev/null && command -v ldd >/dev/null; then
  bash "$bundle" --build "$build" --no-tests --out "$tmp/b/new" >"$tmp/o" 2>"$tmp/e"
  check "a new bundle" 0 $? "$tmp/e"
  [ -x "$tmp/b/new/bin/clippo" ] && [ -f "$tmp/b/new/MANIFEST.txt" ] && echo "ok: bundle written" ||
    { echo "FAIL: no bundle in $tmp/b/new"; cat "$tmp/e"; fail=1; }
  bash "$bundle" --build "$build" --no-tests --out "$tmp/b/new" >"$tmp/o" 2>"$tmp/e"
  check "an earlier bundle replaced" 0 $? "$tmp/e"
else
  skip "patchelf or ldd missing: the bundle itself was not made"
fi
finish
