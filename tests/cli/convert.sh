#!/usr/bin/env bash
# `clippo convert` and `clippo inspect`: npz -> h5 -> npz on the tiny fixture, config and tables,
# error exits, atomic replacement; numpy checks the written .npz when it is installed.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
fixture=$shared/fixtures/tiny/model.npz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"

"$clippo" convert "$fixture" "$tmp/a.h5" >"$tmp/o1"; check "npz -> h5" 0 $?
expect "npz -> h5 summary" "$tmp/o1" "55 parameter arrays"
"$clippo" convert "$tmp/a.h5" "$tmp/b.npz" >"$tmp/o2"; check "h5 -> npz" 0 $?
"$clippo" convert --params-only --font unifont-9.0.06 --attr note=hello "$tmp/b.npz" "$tmp/c.h5" \
  >/dev/null; check "npz -> h5 with font and attribute" 0 $?

# The recorded font (issue 12, point 14): kept from IN's record; .npz has no place for it, which
# convert says (naming the font and the --font that restores it); converting such a file back
# says that no font is recorded.
"$clippo" convert "$tmp/c.h5" "$tmp/d.h5" >"$tmp/o4" 2>"$tmp/e4"; check "h5 -> h5" 0 $?
expect "font kept and reported" "$tmp/o4" "; font unifont-9.0.06$"
"$clippo" inspect "$tmp/d.h5" >"$tmp/i5"
expect "font kept" "$tmp/i5" "font unifont-9.0.06"
"$clippo" convert "$tmp/c.h5" "$tmp/e.npz" >/dev/null 2>"$tmp/e5"; check "h5 with a font -> npz" 0 $?
expect "npz drops the font: said" "$tmp/e5" "records the font 'unifont-9.0.06'.*--font unifont-9.0.06"
"$clippo" convert "$tmp/e.npz" "$tmp/f.h5" >/dev/null 2>"$tmp/e6"; check "npz -> h5 without font" 0 $?
expect "no font recorded: said" "$tmp/e6" "records no font; give --font NAME"
"$clippo" convert --quiet "$tmp/e.npz" "$tmp/g.h5" >"$tmp/o7" 2>&1
[ ! -s "$tmp/o7" ] && echo "ok: --quiet prints nothing" || { echo "FAIL: --quiet"; cat "$tmp/o7"; fail=1; }

"$clippo" inspect "$fixture" >"$tmp/i0"; check "inspect npz" 0 $?
expect "inferred config" "$tmp/i0" \
  "config (inferred): width 64, depth 2, heads 4, mlp_dim 128, patch 8, image_size 32, tokens 16, out_dim 32, pool map"
expect "table row" "$tmp/i0" "img/embedding/kernel *(8, 8, 3, 64) *12288"
"$clippo" inspect "$tmp/c.h5" >"$tmp/i1"; check "inspect h5" 0 $?
expect "recorded config" "$tmp/i1" "config (recorded): width 64, depth 2"
expect "font" "$tmp/i1" "font unifont-9.0.06"
expect "attribute" "$tmp/i1" "attribute note: hello"
total0=$(grep '^total:' "$tmp/i0")
total1=$(grep '^total:' "$tmp/i1")
if [ -n "$total0" ] && [ "$total0" = "$total1" ]; then echo "ok: totals ($total0)"; else
  echo "FAIL: totals differ: '$total0' vs '$total1'"; fail=1; fi
expect "55 arrays" "$tmp/i0" "in 55 arrays"
"$clippo" inspect --opt "$tmp/a.h5" >"$tmp/i2"; check "inspect --opt" 0 $?
expect "optimizer table" "$tmp/i2" "optimizer state"
expect "bf16 optimizer state" "$tmp/i2" "bfloat16"
"$clippo" inspect --opt "$tmp/c.h5" >"$tmp/i3"
if grep -q "optimizer state" "$tmp/i3"; then echo "FAIL: --params-only kept opt"; fail=1; else
  echo "ok: --params-only"; fi
"$clippo" inspect --raw "$fixture" >"$tmp/i4"; check "inspect --raw" 0 $?
expect "raw lists opt" "$tmp/i4" "opt\|optimizer state"

# Errors: usage (2) and runtime (1) with the file named.
"$clippo" convert "$fixture" >/dev/null 2>&1; check "convert one argument" 2 $?
"$clippo" convert "$fixture" "$tmp/x.bin" >/dev/null 2>&1; check "convert bad extension" 2 $?
"$clippo" convert --font f "$fixture" "$tmp/x.npz" >/dev/null 2>&1; check "font with npz" 2 $?
"$clippo" convert --bogus "$fixture" "$tmp/x.npz" >/dev/null 2>&1; check "unknown option" 2 $?
"$clippo" inspect >/dev/null 2>&1; check "inspect no argument" 2 $?
"$clippo" convert "$tmp/missing.npz" "$tmp/x.h5" 2>"$tmp/e1"; check "missing input" 1 $?
expect "missing input named" "$tmp/e1" "missing.npz"
head -c 3000 "$tmp/b.npz" >"$tmp/trunc.npz"
"$clippo" inspect "$tmp/trunc.npz" >/dev/null 2>"$tmp/e2"; check "truncated npz" 1 $?
expect "truncated named" "$tmp/e2" "trunc.npz"
printf 'garbage, not a checkpoint' >"$tmp/g.h5"
"$clippo" inspect "$tmp/g.h5" >/dev/null 2>"$tmp/e3"; check "garbage" 1 $?
expect "garbage named" "$tmp/e3" "g.h5"
# A failed conversion leaves an existing output untouched and no temporary files.
cp "$tmp/a.h5" "$tmp/keep.h5"
"$clippo" convert "$tmp/trunc.npz" "$tmp/a.h5" >/dev/null 2>&1; check "failed convert" 1 $?
if cmp -s "$tmp/a.h5" "$tmp/keep.h5"; then echo "ok: output kept"; else echo "FAIL: output changed"; fail=1; fi
if ls "$tmp" | grep -q '\.tmp-'; then echo "FAIL: temporary files left"; ls "$tmp"; fail=1; else
  echo "ok: no temporary files"; fi

if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$fixture" "$tmp/b.npz" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert sorted(a.files) == sorted(b.files), set(a.files) ^ set(b.files)
for k in a.files:
    x, y = a[k], b[k]
    assert x.dtype == y.dtype and x.shape == y.shape, k
    assert x.tobytes() == y.tobytes(), k
EOF
  check "numpy reads the npz, identical to the fixture" 0 $?
else
  skip "numpy not installed"
fi
finish
