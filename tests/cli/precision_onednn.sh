#!/usr/bin/env bash
# `clippo embed --precision bf16|int8` and env CLIPPO_PRECISION on every CPU device that shares
# the host's memory (oneDNN multiplies there): the tiny fixture's embeddings differ from float32
# by what the rounding costs (bf16 and int8: relative L2 between 1e-5 and 5e-2; 1e-1 for int8's
# 7-bit weights on CPUs without int8 dot products), the flag and the
# variable give the same bytes, --stats names the precision, forcing a float32 provider with them
# is an error naming oneDNN, `clippo version` and `clippo tune --show` report oneDNN and the
# choice. bf16 where oneDNN has no bfloat16 matmul (below AVX-512) is refused with the reason.
# Skipped (visibly) when the build has no oneDNN.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
fixture=$shared/fixtures/tiny/model.npz
images=$shared/fixtures/tiny/images.npy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"

"$clippo" version >"$tmp/version"
check "version" 0 $?
expect "version names oneDNN" "$tmp/version" "^oneDNN"
if grep -q "not built in" "$tmp/version"; then
  # without oneDNN the precisions are refused with the reason
  "$clippo" embed --model "$fixture" --images "$images" --out "$tmp/x.npy" --precision int8 \
    2>"$tmp/e"
  check "int8 without oneDNN" 1 $? "$tmp/e"
  expect "says the build lacks oneDNN" "$tmp/e" "lacks"
  skip "this build has no oneDNN: the bf16 and int8 products were not run"
  finish
fi
expect "version reports oneDNN's CPU ISA" "$tmp/version" "CPU ISA"

# relative L2 difference of two embedding files (the same .npy header in both)
rel() {
  python3 - "$1" "$2" <<'PY'
import struct, sys, math
def floats(p):
    b = open(p, 'rb').read()
    hl = struct.unpack('<H', b[8:10])[0]
    body = b[10 + hl:]
    return struct.unpack('<%df' % (len(body) // 4), body)
a, b = floats(sys.argv[1]), floats(sys.argv[2])
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
den = math.sqrt(sum(x * x for x in a))
print('%.3e' % (num / den))
PY
}

# CPU devices sharing the host's memory: PoCL, and rusticl where RUSTICL_ENABLE shows it
devices=$("$clippo" devices 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+:[0-9]+$/ && / CPU / {print $1}')
ran=0
for dev in $devices; do
  "$clippo" embed --model "$fixture" --images "$images" --out "$tmp/f32.npy" --device "$dev" \
    --quiet 2>"$tmp/e0"
  check "$dev: embed fp32" 0 $? "$tmp/e0"
  for p in bf16 int8; do
    "$clippo" embed --model "$fixture" --images "$images" --out "$tmp/$p.npy" --device "$dev" \
      --precision $p --stats --quiet 2>"$tmp/e-$p"
    rc=$?
    if [ $rc != 0 ] && grep -q "not a CPU device sharing" "$tmp/e-$p"; then
      echo "ok: $dev refuses $p: $(head -1 "$tmp/e-$p")"
      continue
    fi
    if [ $p = bf16 ] && ! grep -q "CPU ISA avx512" "$tmp/version"; then
      # oneDNN has no bfloat16 matmul below AVX-512: refused, naming the device and the ISA,
      # and no embeddings file written
      check "$dev: bf16 refused on this CPU" 1 $rc "$tmp/e-$p"
      expect "$dev: says there is no bfloat16 matmul" "$tmp/e-$p" "no bfloat16 matmul on this CPU"
      expect "$dev: names the ISA" "$tmp/e-$p" "CPU ISA avx"
      [ ! -e "$tmp/$p.npy" ] && echo "ok: $dev: no bf16 file" ||
        { echo "FAIL: $dev: a refused bf16 run wrote $tmp/$p.npy"; fail=1; }
      continue
    fi
    check "$dev: embed --precision $p" 0 $rc
    expect "$dev: stats name $p" "$tmp/e-$p" "$p GEMMs"
    r=$(rel "$tmp/f32.npy" "$tmp/$p.npy")
    echo "$dev: $p vs fp32: relative L2 difference $r"
    # int8's weights keep 7 bits where oneDNN has no int8 dot products: twice the step
    hi=5e-2
    [ $p = int8 ] && grep -q "no int8 dot products" "$tmp/version" && hi=1e-1
    if python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if 1e-5 < r < float(sys.argv[2]) else 1)" "$r" "$hi"; then
      echo "ok: $dev: $p close to fp32 but rounded"
    else
      echo "FAIL: $dev: $p differs from fp32 by $r"
      fail=1
    fi
    CLIPPO_PRECISION=$p "$clippo" embed --model "$fixture" --images "$images" \
      --out "$tmp/env.npy" --device "$dev" --quiet 2>/dev/null
    check "$dev: env CLIPPO_PRECISION=$p" 0 $?
    if cmp -s "$tmp/$p.npy" "$tmp/env.npy"; then echo "ok: $dev: env = flag ($p)"; else
      echo "FAIL: $dev: env CLIPPO_PRECISION=$p and --precision $p differ"
      fail=1
    fi
    ran=1
  done
  # a float32 provider forced with int8 is refused, naming oneDNN
  CLIPPO_GEMM=hostblas "$clippo" embed --model "$fixture" --images "$images" \
    --out "$tmp/x.npy" --device "$dev" --precision int8 --quiet 2>"$tmp/e3"
  check "$dev: CLIPPO_GEMM=hostblas with int8" 1 $? "$tmp/e3"
  expect "$dev: says oneDNN only" "$tmp/e3" "oneDNN only"
  # the choice: oneDNN by default (no record), and for every product in int8
  CLIPPO_GEMM_RECORD=$tmp/none.txt "$clippo" tune --show --device "$dev" >"$tmp/show" 2>&1
  check "$dev: tune --show" 0 $? "$tmp/show"
  expect "$dev: oneDNN is the default" "$tmp/show" "onednn *default"
  if grep -q "hostblas *default" "$tmp/show"; then
    echo "FAIL: $dev: a product defaults to the host BLAS:"
    cat "$tmp/show"
    fail=1
  fi
  expect "$dev: tune names the host BLAS's core" "$tmp/show" "^hostblas: "
  expect "$dev: tune names oneDNN's ISA" "$tmp/show" "^onednn: oneDNN"
  CLIPPO_PRECISION=int8 "$clippo" tune --show --device "$dev" >"$tmp/show8" 2>&1
  expect "$dev: int8 products through oneDNN" "$tmp/show8" "onednn *precision int8"
done
if [ $ran = 0 ]; then skip "no CPU device sharing the host's memory: bf16/int8 not run"; fi
finish
