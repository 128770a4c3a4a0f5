#!/usr/bin/env bash
# `clippo render`: fixtures through the CLI, output formats, font selection, exit codes and
# messages. $1 = path of the clippo binary; fixtures from $CLIPPO_SHARED_DIR.
set -u
CLIPPO=${1:?usage: render.sh PATH_TO_CLIPPO}
SHARED=${CLIPPO_SHARED_DIR:?CLIPPO_SHARED_DIR is not set}
LO=$SHARED/fonts/unifont-9.0.06.hex
UP=$SHARED/fonts/unifont_upper-9.0.06.hex
FIX=$SHARED/fixtures/render
[ -r "$LO" ] && [ -r "$UP" ] && [ -d "$FIX" ] || {
  echo "FAIL: shared fixtures folder '$SHARED' has no fonts/unifont-9.0.06.hex," \
    "fonts/unifont_upper-9.0.06.hex or fixtures/render (set CLIPPO_SHARED_DIR)" >&2
  exit 1
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# expect CODE PATTERN CMD...: runs CMD, checks the exit code and that stderr matches PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "exit $rc (want $code): $* -- $(cat "$TMP/err")"
  elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$TMP/err"; then
    fail "stderr of '$*' lacks '$pattern': $(cat "$TMP/err")"
  fi
}

# Fixtures (a sample; tests/test_render.c checks them all), bit-exact PGM from the raw bytes of
# NAME.txt.
n=0
for name in r000 r004 r007 r008 r011 r013 r021 r025; do
  txt=$FIX/$name.txt
  size=$(grep -A1 "\"$name\"" "$FIX/cases.json" | grep -o '[0-9]\+' | tail -1)
  expect 0 "" "$CLIPPO" render --quiet --font "$LO" --font "$UP" --image-size "$size" \
    --text-file "$txt" --out "$TMP/$name.pgm"
  cmp -s "$TMP/$name.pgm" "$FIX/$name.pgm" || fail "$name differs from the fixture"
  n=$((n + 1))
done
[ "$n" -eq 8 ] || fail "only $n fixtures checked"

# TEXT argument equals --text-file; the fonts may come from CLIPPO_FONT.
CLIPPO_FONT="$LO:$UP" expect 0 "" "$CLIPPO" render "a photo of a cat" --out "$TMP/cat.pgm"
cmp -s "$TMP/cat.pgm" "$FIX/r000.pgm" || fail "TEXT argument with CLIPPO_FONT differs from r000"
printf 'a photo of a cat' | CLIPPO_FONT="$LO:$UP" expect 0 "" "$CLIPPO" render --text-file - \
  --out "$TMP/cat2.pgm"
cmp -s "$TMP/cat2.pgm" "$FIX/r000.pgm" || fail "--text-file - differs from r000"
# The success line names the font identity.
expect 0 "" "$CLIPPO" render --font "$LO" --font "$UP" hi --out "$TMP/hi.pgm"
grep -q "unifont-9.0.06" "$TMP/out" || fail "success line lacks the font identity: $(cat "$TMP/out")"

# .npy: (N, N, 3) uint8.
expect 0 "" "$CLIPPO" render --font "$LO" --font "$UP" --image-size 32 "npy" --out "$TMP/x.npy"
head -c 6 "$TMP/x.npy" | od -An -c | grep -q 'N   U   M   P   Y' || fail "x.npy lacks the magic"
grep -a -q "(32, 32, 3)" "$TMP/x.npy" || fail "x.npy shape is not (32, 32, 3)"
grep -a -q "|u1" "$TMP/x.npy" || fail "x.npy dtype is not uint8"

# PNG, also enlarged.
expect 0 "" "$CLIPPO" render --font "$LO" --font "$UP" "png" --out "$TMP/x.png"
expect 0 "" "$CLIPPO" render --font "$LO" --font "$UP" "png" --scale 3 --out "$TMP/x3.png"
for f in x.png x3.png; do
  head -c 4 "$TMP/$f" | od -An -c | grep -q 'P   N   G' || fail "$f is not a PNG"
done
# IHDR width of the enlarged PNG: 672 = 0x000002a0 at offset 16.
[ "$(od -An -tx1 -j16 -N4 "$TMP/x3.png" | tr -d ' \n')" = "000002a0" ] ||
  fail "x3.png is not 672 pixels wide"

# Runtime errors: exit 1 with a clear message.
expect 1 "missing.hex" "$CLIPPO" render --font "$TMP/missing.hex" hi --out "$TMP/e.pgm"
printf '0041:0000000018242442427E424242420000\n0042:00GG\n' >"$TMP/bad.hex"
expect 1 "bad.hex:2:" "$CLIPPO" render --font "$TMP/bad.hex" hi --out "$TMP/e.pgm"
echo "not a font" >"$TMP/junk.ttf"
expect 1 "FreeType" "$CLIPPO" render --font "$TMP/junk.ttf" hi --out "$TMP/e.pgm"
expect 1 "junk.ttf" "$CLIPPO" render --font "$TMP/junk.ttf" hi --out "$TMP/e.pgm"
CLIPPO_FONT="$TMP/missing.hex" expect 1 "CLIPPO_FONT" "$CLIPPO" render hi --out "$TMP/e.pgm"
expect 1 "nope.txt" "$CLIPPO" render --font "$LO" --text-file "$TMP/nope.txt" --out "$TMP/e.pgm"
expect 1 "" "$CLIPPO" render --font "$LO" hi --out "$TMP/no/such/dir/e.pgm"
# A 16-wide glyph does not fit a 16-pixel image.
expect 1 "widest glyph" "$CLIPPO" render --font "$LO" --image-size 16 "$(printf 'a\tb')" \
  --out "$TMP/e.pgm"
[ -e "$TMP/e.pgm" ] && fail "a failed render left $TMP/e.pgm behind"

# --scale reports the size written, not the rendered size (issue 12, point 14).
"$CLIPPO" render --font "$LO" --image-size 32 --scale 2 hi --out "$TMP/s.png" >"$TMP/out" 2>&1 ||
  fail "render --scale 2 failed: $(cat "$TMP/out")"
grep -q "^wrote $TMP/s.png (64x64: 32x32 scaled 2x, font unifont-9.0.06)$" "$TMP/out" ||
  fail "render --scale 2 does not report 64x64: $(cat "$TMP/out")"
[ "$(od -An -tu1 -j16 -N8 "$TMP/s.png" | tr -s ' ')" = " 0 0 0 64 0 0 0 64" ] ||
  fail "the scaled PNG is not 64x64"

# Usage errors: exit 2.
expect 2 "--out" "$CLIPPO" render --font "$LO" hi
expect 2 "exactly one" "$CLIPPO" render --font "$LO" --out "$TMP/u.pgm"
expect 2 "exactly one" "$CLIPPO" render --font "$LO" hi --text-file "$FIX/r000.txt" --out "$TMP/u.pgm"
expect 2 ".png, .pgm or .npy" "$CLIPPO" render --font "$LO" hi --out "$TMP/u.jpg"
expect 2 "PNG" "$CLIPPO" render --font "$LO" hi --scale 2 --out "$TMP/u.pgm"
expect 2 "image-size" "$CLIPPO" render --font "$LO" --image-size 0 hi --out "$TMP/u.pgm"
expect 2 "unknown option" "$CLIPPO" render --frobnicate hi --out "$TMP/u.pgm"
expect 2 "needs a value" "$CLIPPO" render hi --out
expect 0 "" "$CLIPPO" render --help
grep -q "usage: clippo render" "$TMP/out" || fail "--help prints no usage"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "render.sh: all checks passed"
