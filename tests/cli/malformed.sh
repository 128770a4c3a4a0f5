#!/usr/bin/env bash
# Malformed and odd inputs to `clippo inspect / convert / embed / render`: every run must end in
# a clear error (exit 1..125, message on stderr naming the file) or exit 0 with a correct result;
# never a signal, never a sanitizer report, never a partial or temporary output file.
# Inputs are made here from the tiny fixture with bash, printf, head, dd and gzip (for CRC-32):
# truncated / garbage / edited checkpoints (.npz and HDF5), hand-written .npy arrays and zips
# (wrong shape, missing / extra tensor, wrong dtype, absurd header and zip sizes), broken
# images, odd but valid texts, float64 and big-endian arrays, unwritable outputs.
# numpy (when /usr/bin/python3 has it) double-checks the embeddings that are written.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
src=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fx=$shared/fixtures/tiny
model=$fx/model.npz
font=$shared/fonts/unifont-9.0.06.hex
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0 # failed checks
passed=0
have_numpy=0
/usr/bin/python3 -c 'import numpy' 2>/dev/null && have_numpy=1

# ---- the checker -------------------------------------------------------------------------

# run_case NAME EXPECT [WANT] -- CMD...
#   EXPECT: error (exit 1..125 with a message), ok (exit 0) or any (either, cleanly).
#   WANT: an extended regex the error message must match (optional).
# Always: no exit >= 126 (signals), no sanitizer report; leaves stdout/stderr in $tmp/out,
# $tmp/err and the exit code in $rc.
run_case() {
  local name=$1 expect=$2 want=""
  shift 2
  if [ "$1" != "--" ]; then
    want=$1
    shift
  fi
  shift
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  local why=""
  if grep -q -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|Sanitizer:' "$tmp/err"; then
    why="sanitizer report"
  elif [ $rc -ge 126 ]; then
    why="exit $rc (killed by a signal or crashed)"
  elif [ "$expect" = ok ] && [ $rc -ne 0 ]; then
    why="exit $rc, expected success"
  elif [ "$expect" = error ] && [ $rc -eq 0 ]; then
    why="exit 0, expected an error"
  elif [ $rc -ne 0 ] && ! grep -q 'error' "$tmp/err"; then
    why="exit $rc without an error message on stderr"
  elif [ $rc -ne 0 ] && [ -n "$want" ] && ! grep -q -E -- "$want" "$tmp/err"; then
    why="message does not match '$want'"
  fi
  if [ -n "$why" ]; then
    echo "FAIL: $name: $why"
    echo "  command: $*"
    sed 's/^/  stderr: /' "$tmp/err" | head -20
    fail=$((fail + 1))
  else
    passed=$((passed + 1))
    echo "ok: $name (exit $rc)$([ $rc -ne 0 ] && printf ': %s' "$(head -c 200 "$tmp/err" | head -1)")"
  fi
}

# no_output NAME FILE: FILE must not exist and its folder must hold no temporary files of it.
no_output() {
  local dir base
  dir=$(dirname "$2")
  base=$(basename "$2")
  if [ -e "$2" ]; then
    echo "FAIL: $1: $2 was written"
    fail=$((fail + 1))
  elif ls -a "$dir" 2>/dev/null | grep -q -F "$base.tmp-"; then
    echo "FAIL: $1: temporary files left in $dir: $(ls -a "$dir" | grep -F "$base.tmp-")"
    fail=$((fail + 1))
  fi
}

# .npy / zip writers and synthetic checkpoints (synth, zip_stored, npy, fill, repeat...).
# shellcheck source=lib/npzgen.sh
. "$(dirname "$0")/lib/npzgen.sh"

# ckpt_case NAME FILE [WANT] [convert|embed]: `clippo inspect` must fail cleanly, naming the
# file; with "convert" `clippo convert` too, leaving no output; with "embed" also `clippo embed`.
ckpt_case() {
  local name=$1 file=$2 want=${3:-} want_file
  want_file=$(basename "$file")
  run_case "inspect $name" error "${want:-$want_file}" -- "$clippo" inspect "$file"
  grep -q -F "$want_file" "$tmp/err" || { echo "FAIL: inspect $name: message does not name the file"; fail=$((fail + 1)); }
  [ -z "${4:-}" ] && return
  run_case "convert $name" error "${want:-$want_file}" -- "$clippo" convert "$file" "$tmp/conv-out.h5"
  no_output "convert $name" "$tmp/conv-out.h5"
  if [ "${4:-}" = embed ]; then
    run_case "embed $name" error "${want:-$want_file}" -- "$clippo" embed --model "$file" \
      --images "$fx/images.npy" --out "$tmp/emb-out.npy"
    no_output "embed $name" "$tmp/emb-out.npy"
  fi
}

# ---- the writers themselves: a synthetic checkpoint loads ----------------------------------

synth "$tmp/synth.npz"
run_case "synthetic checkpoint loads" ok -- "$clippo" inspect "$tmp/synth.npz"
grep -q "in 55 arrays" "$tmp/out" || { echo "FAIL: synthetic checkpoint: not 55 arrays"; fail=$((fail + 1)); }

# ---- malformed checkpoints ---------------------------------------------------------------

size=$(fsize "$model")
for cut in 0 3 4 30 1000 65536 $((size / 2)) $((size - 22)) $((size - 1)); do
  head -c "$cut" "$model" >"$tmp/trunc-$cut.npz"
  emb=""
  case $cut in 0 | 1000 | $((size - 1))) emb=embed ;; esac
  ckpt_case "npz truncated at $cut bytes" "$tmp/trunc-$cut.npz" "" $emb
done
# Garbage: patterned bytes, and garbage behind each magic number.
fill 5000 251 >"$tmp/garbage.npz"
ckpt_case "garbage" "$tmp/garbage.npz" "" embed
# embed reads the checkpoint before it opens a device: the bad file is reported, not the device
run_case "embed garbage before the device" error "garbage\.npz" -- "$clippo" embed \
  --device 99:99 --model "$tmp/garbage.npz" --images "$fx/images.npy" --out "$tmp/emb-out.npy"
grep -q '99:99' "$tmp/err" && { echo "FAIL: embed garbage: the device was opened first"; fail=$((fail + 1)); }
{ printf 'PK\x03\x04'; fill 5000 377; } >"$tmp/garbage-pk.npz"
ckpt_case "zip magic + garbage" "$tmp/garbage-pk.npz"
{ printf 'PK\x05\x06'; fill 18 377; } >"$tmp/eocd-ff.npz"
ckpt_case "end record of 0xff" "$tmp/eocd-ff.npz"
{ printf '\x89HDF\r\n\x1a\n'; fill 5000 0; } >"$tmp/garbage-hdf.h5"
ckpt_case "hdf5 magic + zeros" "$tmp/garbage-hdf.h5" "" embed
{ printf '\x89HDF\r\n\x1a\n'; fill 5000 377; } >"$tmp/garbage-hdf2.h5"
ckpt_case "hdf5 magic + 0xff" "$tmp/garbage-hdf2.h5"
# The middle of the fixture overwritten (member headers and data).
cp "$model" "$tmp/holed.npz"
fill 3000 377 | dd of="$tmp/holed.npz" bs=1 seek=20000 conv=notrunc 2>/dev/null
ckpt_case "npz with 3000 bytes overwritten" "$tmp/holed.npz" "" embed
run_case "missing checkpoint" error "nonexistent.npz" -- "$clippo" inspect "$tmp/nonexistent.npz"
mkdir -p "$tmp/adir.npz"
run_case "checkpoint is a directory" error "adir.npz" -- "$clippo" inspect "$tmp/adir.npz"
run_case "embed with a directory as model" error "adir.npz" -- "$clippo" embed --model \
  "$tmp/adir.npz" --images "$fx/images.npy" --out "$tmp/emb-out.npy"

# Edited members.
block1=img/Transformer/encoderblock_1
RESHAPE="$block1/MlpBlock_0/Dense_0/bias|(127,)|127" synth "$tmp/wrong-shape.npz"
ckpt_case "wrong shape" "$tmp/wrong-shape.npz" "Dense_0/bias.*\(128,\).*\(127,\)|Dense_0/bias.*\(127,\).*\(128,\)" embed
RESHAPE="img/embedding/kernel|(8, 8, 6, 32)|12288" synth "$tmp/wrong-shape2.npz"
ckpt_case "wrong shape, same size" "$tmp/wrong-shape2.npz" "img/embedding/kernel" convert
RESHAPE="img/pos_embedding|(1, 15, 64)|960" synth "$tmp/wrong-shape3.npz"
ckpt_case "non-square token count" "$tmp/wrong-shape3.npz" "pos_embedding"
SKIP="$block1/LayerNorm_1/scale" synth "$tmp/missing.npz"
ckpt_case "missing tensor" "$tmp/missing.npz" "LayerNorm_1/scale" embed
SKIP="img/embedding/kernel" synth "$tmp/missing2.npz"
ckpt_case "missing embedding" "$tmp/missing2.npz" "img/embedding/kernel"
EXTRA="img/Transformer/encoderblock_1/Unexpected_0/kernel" synth "$tmp/extra.npz"
ckpt_case "extra tensor" "$tmp/extra.npz" "Unexpected_0" embed
DUP="img/head/bias" synth "$tmp/dup.npz"
ckpt_case "tensor twice" "$tmp/dup.npz" "img/head/bias" convert
RETYPE="img/head/kernel|<i4|4" synth "$tmp/int32.npz"
ckpt_case "int32 tensor" "$tmp/int32.npz" "img/head/kernel.*int32" embed
RETYPE="img/head/kernel|<c8|8" synth "$tmp/complex.npz"
ckpt_case "complex tensor" "$tmp/complex.npz" "img/head/kernel|c8"
npy "$tmp/nanparam.npy" '<f4' '(64,)' 64 4 377
REPLACE="img/Transformer/encoderblock_0/LayerNorm_0/bias=$tmp/nanparam.npy" synth "$tmp/nan.npz"
ckpt_case "NaN parameter" "$tmp/nan.npz" "LayerNorm_0/bias.*NaN" embed
RETYPE="img/head/kernel|<f8|8" synth "$tmp/f64.npz"
run_case "float64 tensor converts" ok -- "$clippo" inspect "$tmp/f64.npz"
RETYPE="img/head/kernel|>f4|4" synth "$tmp/bigendian.npz"
run_case "big-endian tensor converts" ok -- "$clippo" inspect "$tmp/bigendian.npz"

# Absurd .npy headers inside a member.
absurd_member() { # absurd_member OUT FILE: the synthetic checkpoint with img/head/bias = FILE
  REPLACE="img/head/bias=$2" synth "$1"
}
{ printf '\x93NUMPY\x02\x00\xf0\xff\xff\xff'; fill 100 040; } >"$tmp/m1.npy"
absurd_member "$tmp/npyhdr-huge.npz" "$tmp/m1.npy"
ckpt_case "npy header length 4 GiB" "$tmp/npyhdr-huge.npz" "img/head/bias|header" embed
{ npy_header '<f4' '(1000000000, 1000000000, 1000)'; fill 128 075; } >"$tmp/m2.npy"
absurd_member "$tmp/npy-bigshape.npz" "$tmp/m2.npy"
ckpt_case "npy shape of 4e21 bytes" "$tmp/npy-bigshape.npz" "img/head/bias"
{ npy_header '<f4' '(99999999999999999999,)'; fill 128 075; } >"$tmp/m3.npy"
absurd_member "$tmp/npy-overflow.npz" "$tmp/m3.npy"
ckpt_case "npy dimension overflows" "$tmp/npy-overflow.npz" "img/head/bias"
{ npy_header '<f4' '(0, 4611686018427387904, 4611686018427387904)'; } >"$tmp/m4.npy"
absurd_member "$tmp/npy-zerohuge.npz" "$tmp/m4.npy"
ckpt_case "npy empty with huge dims" "$tmp/npy-zerohuge.npz" "img/head/bias"
{ printf '\x93NUMPY\x01\x00\x40\x00'; printf '{"descr": <f4, shape: [32]}%37s\n' ''; fill 128 075; } >"$tmp/m5.npy"
absurd_member "$tmp/npy-badsyntax.npz" "$tmp/m5.npy"
ckpt_case "npy header syntax" "$tmp/npy-badsyntax.npz" "img/head/bias"
{ npy_header '<f4' '(32,)'; fill 64 075; } >"$tmp/m6.npy"
absurd_member "$tmp/npy-short.npz" "$tmp/m6.npy"
ckpt_case "npy data too short" "$tmp/npy-short.npz" "img/head/bias" embed
{ npy_header '<f4' '(2, 2, 2, 2, 2, 2, 2, 2, 2, 2)'; fill 4096 075; } >"$tmp/m7.npy"
absurd_member "$tmp/npy-rank10.npz" "$tmp/m7.npy"
ckpt_case "npy rank 10" "$tmp/npy-rank10.npz" "img/head/bias"

# Absurd zip directories.
npy "$tmp/small.npy" '<f4' '(32,)' 32 4
ZIP_USIZE=4294967280 ZIP_CSIZE=4294967280 zip_stored "$tmp/zip-hugesize.npz" \
  "params/img/head/bias.npy=$tmp/small.npy"
ckpt_case "zip member claims 4 GiB" "$tmp/zip-hugesize.npz" "" embed
ZIP_USIZE=4294967280 zip_stored "$tmp/zip-hugeusize.npz" "params/img/head/bias.npy=$tmp/small.npy"
ckpt_case "zip stored member size mismatch" "$tmp/zip-hugeusize.npz"
ZIP_ENTRIES=65535 zip_stored "$tmp/zip-entries.npz" "params/img/head/bias.npy=$tmp/small.npy"
ckpt_case "zip claims 65535 entries" "$tmp/zip-entries.npz" "" convert
ZIP_CDOFF=4000000000 zip_stored "$tmp/zip-cdoff.npz" "params/img/head/bias.npy=$tmp/small.npy"
ckpt_case "zip directory beyond the end" "$tmp/zip-cdoff.npz"
zip_stored "$tmp/zip-empty.npz"
ckpt_case "empty zip" "$tmp/zip-empty.npz"

# HDF5 checkpoints: truncated, overwritten.
"$clippo" convert --quiet "$model" "$tmp/good.h5"
h5size=$(fsize "$tmp/good.h5")
for cut in 8 1000 5000 $((h5size / 2)) $((h5size - 1)); do
  head -c "$cut" "$tmp/good.h5" >"$tmp/h5trunc-$cut.h5"
  emb=""
  [ "$cut" = 1000 ] && emb=embed
  [ "$cut" = 5000 ] && emb=convert
  ckpt_case "h5 truncated at $cut bytes" "$tmp/h5trunc-$cut.h5" "" $emb
done
for at in 96 800 2000 6000 $((h5size / 3)); do
  cp "$tmp/good.h5" "$tmp/h5hole-$at.h5"
  fill 512 377 | dd of="$tmp/h5hole-$at.h5" bs=1 seek="$at" conv=notrunc 2>/dev/null
  # Data overwritten may still load (it is just other numbers); metadata must fail cleanly.
  run_case "inspect h5 with 512 bytes overwritten at $at" any -- "$clippo" inspect "$tmp/h5hole-$at.h5"
  run_case "convert h5 with 512 bytes overwritten at $at" any -- "$clippo" convert \
    "$tmp/h5hole-$at.h5" "$tmp/h5hole-out.npz"
  [ $rc -ne 0 ] && no_output "convert h5 hole $at" "$tmp/h5hole-out.npz"
  rm -f "$tmp/h5hole-out.npz"
done
# Every past fuzzing finding for the HDF5 loader, through the program. hdf5-endless-loop.h5
# keeps libhdf5 busy until the guard's CPU limit (20 s by default): test_fuzz_regressions
# replays it with a 2 s limit set through the API (clippo_load_opts), so it is left out here.
for f in "$src"/tests/fuzz/regressions/h5/*; do
  [ -f "$f" ] || continue
  [ "$(basename "$f")" = hdf5-endless-loop.h5 ] && continue
  run_case "inspect fuzz finding $(basename "$f")" any -- "$clippo" inspect "$f"
done

# ---- arrays for --images -----------------------------------------------------------------

embed_img() { "$clippo" embed --model "$model" --out "$1" --images "${@:2}"; }
npy "$tmp/rank3.npy" '<f4' '(4, 32, 96)' 12288 4
run_case "images of rank 3" error "rank3.npy.*\(N, 32, 32, 3\)" -- embed_img "$tmp/o.npy" "$tmp/rank3.npy"
no_output "images of rank 3" "$tmp/o.npy"
npy "$tmp/int32.npy" '<i4' '(4, 32, 32, 3)' 12288 4
run_case "int32 images" error "int32.npy.*int32" -- embed_img "$tmp/o.npy" "$tmp/int32.npy"
npy "$tmp/u8.npy" '|u1' '(4, 32, 32, 3)' 12288 1
run_case "uint8 images" error "u8.npy" -- embed_img "$tmp/o.npy" "$tmp/u8.npy"
npy "$tmp/size16.npy" '<f4' '(4, 16, 16, 3)' 3072 4
run_case "images of the wrong size" error "size16.npy.*32, 32" -- embed_img "$tmp/o.npy" "$tmp/size16.npy"
head -c 20000 "$fx/images.npy" >"$tmp/imgtrunc.npy"
run_case "truncated images.npy" error "imgtrunc.npy" -- embed_img "$tmp/o.npy" "$tmp/imgtrunc.npy"
{ printf '\x93NUMPY\x03\x00\xff\xff\xff\x7f'; fill 64 040; } >"$tmp/imghdr.npy"
run_case "images.npy with a 2 GiB header" error "imghdr.npy" -- embed_img "$tmp/o.npy" "$tmp/imghdr.npy"
{ npy_header '<f4' '(100000000000, 32, 32, 3)'; fill 128 075; } >"$tmp/imgbig.npy"
run_case "images.npy claiming 1e11 images" error "imgbig.npy" -- embed_img "$tmp/o.npy" "$tmp/imgbig.npy"
no_output "absurd images" "$tmp/o.npy"
npy "$tmp/nan.npy" '<f4' '(2, 32, 32, 3)' 6144 4 377
run_case "NaN images" error "nan.npy" -- embed_img "$tmp/o.npy" "$tmp/nan.npy"
npy "$tmp/zero.npy" '<f4' '(0, 32, 32, 3)' 0 4
run_case "zero images" any -- embed_img "$tmp/o0.npy" "$tmp/zero.npy"
# Valid: float32 0.5 everywhere, and the same as float64, big-endian float32, Fortran order.
{ npy_header '<f4' '(2, 32, 32, 3)' && repeat 24576 '\x00\x00\x00\x3f'; } >"$tmp/half-f4.npy"
{ npy_header '<f8' '(2, 32, 32, 3)' && repeat 49152 '\x00\x00\x00\x00\x00\x00\xe0\x3f'; } >"$tmp/half-f8.npy"
{ npy_header '>f4' '(2, 32, 32, 3)' && repeat 24576 '\x3f\x00\x00\x00'; } >"$tmp/half-be.npy"
{ npy_header '<f4' '(2, 32, 32, 3)' True && repeat 24576 '\x00\x00\x00\x3f'; } >"$tmp/half-fortran.npy"
run_case "float32 images" ok -- embed_img "$tmp/e-f4.npy" "$tmp/half-f4.npy"
for v in f8 be fortran; do
  run_case "$v images" ok -- embed_img "$tmp/e-$v.npy" "$tmp/half-$v.npy"
  if cmp -s "$tmp/e-f4.npy" "$tmp/e-$v.npy"; then echo "ok: $v images embed like float32"; else
    echo "FAIL: $v images embed differently from float32"
    fail=$((fail + 1))
  fi
done
run_case "fixture images" ok -- embed_img "$tmp/e-fx.npy" "$fx/images.npy"
if [ $have_numpy = 1 ]; then
  /usr/bin/python3 - "$tmp/e-fx.npy" "$fx/expected_zimg.npy" "$tmp/e-f8.npy" <<'EOF'
import sys, numpy as np
z, ref, h = np.load(sys.argv[1]), np.load(sys.argv[2]), np.load(sys.argv[3])
assert z.shape == ref.shape == (4, 32) and z.dtype == np.float32, (z.shape, z.dtype)
assert np.linalg.norm(z - ref) / np.linalg.norm(ref) < 1e-4
assert h.shape == (2, 32) and np.all(np.isfinite(h)) and np.allclose(np.linalg.norm(h, axis=1), 1, atol=1e-5)
EOF
  if [ $? -eq 0 ]; then echo "ok: numpy: image embeddings match the fixture"; else
    echo "FAIL: numpy: image embeddings wrong"
    fail=$((fail + 1))
  fi
  if [ -f "$tmp/o0.npy" ]; then
    if /usr/bin/python3 -c "
import sys, numpy as np; z = np.load(sys.argv[1]); assert z.shape == (0, 32), z.shape" "$tmp/o0.npy"; then
      echo "ok: zero images give a (0, 32) array"
    else
      echo "FAIL: zero images: wrong output"
      fail=$((fail + 1))
    fi
  fi
fi

# ---- image files -------------------------------------------------------------------------

"$clippo" render --quiet --image-size 40 "a cat" --out "$tmp/ok.png"
pngsize=$(fsize "$tmp/ok.png")
run_case "valid PNG" ok -- embed_img "$tmp/e-png.npy" "$tmp/ok.png"
for j in "$src"/tests/fuzz/corpus_image/*.jpg; do
  run_case "valid JPEG $(basename "$j")" ok -- embed_img "$tmp/e-jpg.npy" "$j"
  break
done
head -c $((pngsize / 2)) "$tmp/ok.png" >"$tmp/trunc.png"
run_case "truncated PNG" error "trunc.png" -- embed_img "$tmp/o.npy" "$tmp/ok.png" "$tmp/trunc.png"
no_output "truncated PNG" "$tmp/o.npy"
# IHDR with 1000000 x 1000000 pixels and a valid CRC (big-endian; gzip gives it little-endian).
{ printf 'IHDR\x00\x0f\x42\x40\x00\x0f\x42\x40'; tail -c +25 "$tmp/ok.png" | head -c 5; } >"$tmp/ihdr"
ihdr_crc=$(gzip -c -n <"$tmp/ihdr" | tail -c 8 | head -c 4 | od -An -tu4 | tr -d ' \n')
printf -v ihdr_crc_be '\\x%02x\\x%02x\\x%02x\\x%02x' $(((ihdr_crc >> 24) & 255)) \
  $(((ihdr_crc >> 16) & 255)) $(((ihdr_crc >> 8) & 255)) $((ihdr_crc & 255))
{ head -c 12 "$tmp/ok.png"; cat "$tmp/ihdr"; printf "$ihdr_crc_be"; tail -c +34 "$tmp/ok.png"; } >"$tmp/huge.png"
run_case "PNG header of 1e6 x 1e6 pixels" error "huge.png" -- embed_img "$tmp/o.npy" "$tmp/huge.png"
{ printf '\x89PNG\r\n\x1a\n'; fill 300 377; } >"$tmp/garbage.png"
run_case "PNG magic + garbage" error "garbage.png" -- embed_img "$tmp/o.npy" "$tmp/garbage.png"
printf 'GIF89a\x01\x00\x01\x00\x00\x00\x00;' >"$tmp/x.gif"
run_case "GIF" error "x.gif" -- embed_img "$tmp/o.npy" "$tmp/x.gif"
: >"$tmp/empty.jpg"
run_case "empty image file" error "empty.jpg" -- embed_img "$tmp/o.npy" "$tmp/empty.jpg"
for j in "$src"/tests/fuzz/corpus_image/*.jpg; do
  head -c 200 "$j" >"$tmp/trunc.jpg"
  run_case "truncated JPEG" error "trunc.jpg" -- embed_img "$tmp/o.npy" "$tmp/trunc.jpg"
  break
done
run_case "image is a directory" error "adir" -- embed_img "$tmp/o.npy" "$tmp/adir.npz"
run_case "missing image" error "nope.png" -- embed_img "$tmp/o.npy" "$tmp/nope.png"
no_output "image errors" "$tmp/o.npy"

# ---- odd but valid texts -------------------------------------------------------------------

embed_txt() { "$clippo" embed --model "$model" --font "$font" --out "$1" --texts "$2"; }
printf 'a cat\n\n\nA DOG\n' >"$tmp/t-empty-lines.txt"
printf 'caf\xc3\xa9 \xff\xfe bad \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 end\n\xe2\x82\n' >"$tmp/t-invalid.txt"
{ for _ in $(seq 2000); do printf 'a long line with many words '; done; printf '\n'; } >"$tmp/t-long.txt"
printf 'tab\there\x01\x02\x1b[31mred\x7f nul\r\nsecond\r\n' >"$tmp/t-control.txt"
printf 'tab\there\x00nul\n' >"$tmp/t-nul.txt"
printf '\n' >"$tmp/t-one-empty.txt"
printf 'no final newline' >"$tmp/t-nonl.txt"
printf '\xf0\x9f\x98\x80\xe4\xb8\xad\xe6\x96\x87 \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7\n' >"$tmp/t-unicode.txt"
text_outputs=()
for t in empty-lines:4 long:1 control:2 one-empty:1 nonl:1 unicode:1; do
  f=${t%%:*}
  n=${t#*:}
  run_case "texts: $f" ok -- embed_txt "$tmp/e-$f.npy" "$tmp/t-$f.txt"
  # (N, 32) float32: the header plus N * 128 bytes.
  sz=$(fsize "$tmp/e-$f.npy" 2>/dev/null || echo 0)
  if [ "$sz" -ne $((128 + n * 128)) ]; then
    echo "FAIL: texts: $f: $sz bytes written, expected $n embeddings"
    fail=$((fail + 1))
  fi
  text_outputs+=("$tmp/e-$f.npy" "$n")
done
if [ $have_numpy = 1 ]; then
  /usr/bin/python3 - "${text_outputs[@]}" <<'EOF'
import sys, numpy as np
a = sys.argv[1:]
for path, n in zip(a[::2], a[1::2]):
    z = np.load(path)
    assert z.shape == (int(n), 32) and z.dtype == np.float32, (path, z.shape)
    assert np.all(np.isfinite(z)) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5), path
EOF
  if [ $? -eq 0 ]; then echo "ok: numpy: text embeddings are finite unit vectors"; else
    echo "FAIL: numpy: text embeddings"
    fail=$((fail + 1))
  fi
fi
# Invalid UTF-8 and NUL bytes are errors naming the file and line (a binary file is not a text).
run_case "texts: invalid UTF-8" error "t-invalid.txt:1: invalid UTF-8" -- \
  embed_txt "$tmp/o.npy" "$tmp/t-invalid.txt"
run_case "texts: a NUL byte" error "t-nul.txt:1: a NUL byte" -- embed_txt "$tmp/o.npy" "$tmp/t-nul.txt"
: >"$tmp/t-empty.txt"
run_case "texts: empty file" any -- embed_txt "$tmp/e-none.npy" "$tmp/t-empty.txt"
run_case "texts: missing file" error "nope.txt" -- embed_txt "$tmp/o.npy" "$tmp/nope.txt"
run_case "texts: a directory" error "adir" -- embed_txt "$tmp/o.npy" "$tmp/adir.npz"
no_output "text errors" "$tmp/o.npy"
printf '0041:zz\n' >"$tmp/bad.hex"
run_case "texts with a malformed font" error "bad.hex" -- "$clippo" embed --model "$model" \
  --font "$tmp/bad.hex" --texts "$tmp/t-nonl.txt" --out "$tmp/o.npy"

# render: odd texts and inputs.
for f in empty-lines invalid long control unicode empty; do
  run_case "render $f" ok -- "$clippo" render --quiet --font "$font" --text-file "$tmp/t-$f.txt" \
    --out "$tmp/r-$f.png"
done
run_case "render a tiny image" error "image size|widest glyph" -- "$clippo" render --quiet \
  --font "$font" --image-size 8 "WWW" --out "$tmp/r.png"
run_case "render --text-file directory" error "adir" -- "$clippo" render --quiet --font "$font" \
  --text-file "$tmp/adir.npz" --out "$tmp/r.png"
run_case "render with a malformed font" error "bad.hex" -- "$clippo" render --quiet \
  --font "$tmp/bad.hex" "x" --out "$tmp/r.png"
run_case "render with a missing font" error "nofont" -- "$clippo" render --quiet \
  --font "$tmp/nofont.hex" "x" --out "$tmp/r.png"
no_output "render errors" "$tmp/r.png"

# ---- unwritable outputs ----------------------------------------------------------------------

mkdir -p "$tmp/outdir.npy" "$tmp/outdir.h5" "$tmp/outdir.png"
for out in /proc/nonexistent/y.npy "$tmp/outdir.npy" "$tmp/no/such/dir/y.npy"; do
  run_case "embed --out $out" error "$(basename "$out")" -- embed_img "$out" "$fx/images.npy"
done
for out in /proc/nonexistent/y.h5 "$tmp/outdir.h5" "$tmp/no/such/dir/y.npz"; do
  run_case "convert to $out" error "$(basename "$out")" -- "$clippo" convert "$model" "$out"
done
for out in /proc/nonexistent/y.png "$tmp/outdir.png"; do
  run_case "render --out $out" error "$(basename "$out")" -- "$clippo" render --quiet \
    --font "$font" "x" --out "$out"
done
for d in outdir.npy outdir.h5 outdir.png; do
  [ -d "$tmp/$d" ] && [ -z "$(ls -A "$tmp/$d")" ] || { echo "FAIL: $d was replaced or filled"; fail=$((fail + 1)); }
done
ls "$tmp" | grep -q '\.tmp-' && { echo "FAIL: temporary files left: $(ls "$tmp" | grep '\.tmp-')"; fail=$((fail + 1)); }
# A read-only folder: a read-only tmpfs when we may mount (root), else chmod (non-root).
mkdir -p "$tmp/ro"
if [ "$(id -u)" = 0 ]; then
  if mount -t tmpfs -o size=1m,ro tmpfs "$tmp/ro" 2>/dev/null; then mounts+=("$tmp/ro"); else
    skip "read-only folder (cannot mount a read-only tmpfs)"
    rmdir "$tmp/ro"
  fi
else
  chmod 555 "$tmp/ro"
fi
if [ -d "$tmp/ro" ]; then
  run_case "embed into a read-only folder" error "ro/y.npy" -- embed_img "$tmp/ro/y.npy" "$fx/images.npy"
  run_case "convert into a read-only folder" error "ro/y.h5" -- "$clippo" convert "$model" "$tmp/ro/y.h5"
  run_case "render into a read-only folder" error "ro/y.png" -- "$clippo" render --quiet \
    --font "$font" "x" --out "$tmp/ro/y.png"
  [ -z "$(ls -A "$tmp/ro")" ] || { echo "FAIL: files appeared in the read-only folder"; fail=$((fail + 1)); }
fi

echo "$passed passed, $fail failed"
finish
