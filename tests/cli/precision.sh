#!/usr/bin/env bash
# `clippo embed --precision` and env CLIPPO_PRECISION: fp16-emulated embeddings of the tiny
# fixture stay within 1e-2 of float32 (and differ from it), fp16 on a device without
# cl_khr_fp16 fails naming the device, unknown names are usage errors.
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

"$clippo" embed --model "$fixture" --images "$images" --out "$tmp/f32.npy" 2>"$tmp/e0"
check "embed fp32" 0 $? "$tmp/e0"
"$clippo" embed --model "$fixture" --images "$images" --out "$tmp/f16.npy" \
  --precision fp16-emulated --stats 2>"$tmp/e1"
check "embed fp16-emulated" 0 $? "$tmp/e1"
expect "stats name the precision" "$tmp/e1" "fp16-emulated GEMMs"
CLIPPO_PRECISION=fp16-emulated "$clippo" embed --model "$fixture" --images "$images" \
  --out "$tmp/env.npy" 2>/dev/null
check "env CLIPPO_PRECISION" 0 $?
if cmp -s "$tmp/f16.npy" "$tmp/env.npy"; then echo "ok: env = flag"; else
  echo "FAIL: env CLIPPO_PRECISION and --precision differ"; fail=1; fi
# relative L2 difference of the float32 payloads (header: the same 128 bytes in both files)
rel=$(python3 - "$tmp/f32.npy" "$tmp/f16.npy" <<'PY'
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
)
echo "fp16-emulated vs fp32: relative L2 difference $rel"
if python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if 1e-5 < r < 1e-2 else 1)" "$rel"; then
  echo "ok: fp16-emulated close to fp32 but rounded"; else echo "FAIL: difference $rel"; fail=1; fi

# fp16 needs cl_khr_fp16: on a device without it, a clear error and exit 1
fp16=$("$clippo" devices 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+:[0-9]+$/ {print $1, $(NF-1)}' |
  awk '$2 == "no" {print $1; exit}')
if [ -n "$fp16" ]; then
  "$clippo" embed --model "$fixture" --images "$images" --out "$tmp/x.npy" --device "$fp16" \
    --precision fp16 2>"$tmp/e2"
  check "fp16 without cl_khr_fp16" 1 $? "$tmp/e2"
  expect "names the extension" "$tmp/e2" "lacks cl_khr_fp16"
  if [ -e "$tmp/x.npy" ]; then echo "FAIL: output written"; fail=1; fi
fi
"$clippo" embed --model "$fixture" --images "$images" --out "$tmp/x.npy" --precision fp8 \
  2>"$tmp/e3"
check "unknown precision" 2 $? "$tmp/e3"
expect "names it" "$tmp/e3" "unknown precision 'fp8'"
CLIPPO_PRECISION=fp8 "$clippo" embed --model "$fixture" --images "$images" --out "$tmp/x.npy" \
  2>"$tmp/e4"
check "unknown env precision" 1 $? "$tmp/e4"
expect "names the variable" "$tmp/e4" "CLIPPO_PRECISION"
finish
