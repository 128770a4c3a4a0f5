#!/usr/bin/env bash
# Faults around `clippo`: no failure may lose a checkpoint or leave a half-written file.
#  - kill -9 at several moments while `clippo convert` writes a large checkpoint (.h5 and .npz)
#    over a good one: the target is always the old or the new checkpoint, complete and loadable;
#    the temporary files of killed writers are removed by the next save;
#  - kill -9 of `clippo train --checkpoint-every 1`: the checkpoint always loads;
#  - disk full (a 1 MiB tmpfs, when we may mount one): clear error, old file intact, no leftovers;
#  - device out of memory (PoCL with POCL_MEMORY_LIMIT=1 and a huge --batch-size): clear error
#    naming the device and the size;
#  - kernel build failure (CLIPPO_PRECOMPILED_DIR with garbage binaries): clear error naming the
#    binary and the device.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:-$(dirname "$0")/../../../shared}
fx=$shared/fixtures/tiny
model=$fx/model.npz
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
fail=0
passed=0
ok() {
  echo "ok: $1"
  passed=$((passed + 1))
}
bad() {
  echo "FAIL: $1"
  fail=$((fail + 1))
}
# clean_error NAME PATTERN: the last command ($rc, $tmp/err) failed cleanly and said PATTERN.
clean_error() {
  if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && grep -q 'error' "$tmp/err" &&
    grep -q -E -- "$2" "$tmp/err" &&
    ! grep -q -E 'ERROR: AddressSanitizer|runtime error:|Sanitizer:' "$tmp/err"; then
    ok "$1: $(head -1 "$tmp/err" | cut -c1-220)"
  else
    bad "$1: exit $rc, stderr:"
    sed 's/^/  /' "$tmp/err" | head -10
  fi
}
no_tmp_files() { # no_tmp_files NAME DIR
  if ls -a "$2" | grep -q '\.tmp-'; then bad "$1: temporary files left: $(ls -a "$2" | grep '\.tmp-' | tr '\n' ' ')"; else
    ok "$1: no temporary files"
  fi
}
# shellcheck source=lib/npzgen.sh
. "$(dirname "$0")/lib/npzgen.sh"

# ---- kill -9 while saving ----------------------------------------------------------------------

# A checkpoint with 64 MiB of optimizer state, so that writing it takes a while.
mkdir -p "$tmp/big"
for i in 0 1 2 3; do
  npy "$tmp/big/$i.npy" '<f4' '(4194304,)' 4194304 4 $((100 + i))
done
EXTRA_MEMBERS="opt/mu_0.npy=$tmp/big/0.npy opt/mu_1.npy=$tmp/big/1.npy opt/nu_0.npy=$tmp/big/2.npy opt/nu_1.npy=$tmp/big/3.npy" \
  synth "$tmp/big.npz"
rm -rf "$tmp/big" "$tmp/members"
"$clippo" inspect "$tmp/big.npz" >/dev/null 2>"$tmp/err" || bad "big checkpoint does not load: $(cat "$tmp/err")"
# table FILE OUT: what `clippo inspect --opt` says about FILE, less the line naming it.
table() { "$clippo" inspect --opt "$1" 2>"$tmp/err" | sed 1d >"$2"; }

for fmt in h5 npz; do
  dir=$tmp/kill-$fmt
  mkdir -p "$dir"
  out=$dir/ckpt.$fmt
  "$clippo" convert --quiet "$model" "$out" || bad "convert fixture to $fmt"
  cp "$out" "$tmp/old.$fmt"
  table "$out" "$tmp/old.table"
  t0=$(date +%s%N)
  "$clippo" convert --quiet "$tmp/big.npz" "$dir/timing.$fmt" || bad "convert big to $fmt"
  ms=$((($(date +%s%N) - t0) / 1000000))
  table "$dir/timing.$fmt" "$tmp/new.table"
  rm -f "$dir/timing.$fmt"
  echo "info: converting the big checkpoint to $fmt takes $ms ms; killing at fractions of it"
  kills=0
  for frac in 1 5 10 20 35 50 65 80 90 95 99; do
    delay=$((ms * frac / 100))
    "$clippo" convert --quiet "$tmp/big.npz" "$out" 2>/dev/null &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    table "$out" "$tmp/now.table"
    if [ -s "$tmp/err" ] || [ ! -s "$tmp/now.table" ]; then
      bad "$fmt: killed at $delay ms: the checkpoint does not load: $(head -1 "$tmp/err")"
    elif cmp -s "$tmp/now.table" "$tmp/old.table"; then
      cmp -s "$out" "$tmp/old.$fmt" && ok "$fmt: killed at $delay ms: old checkpoint intact" ||
        bad "$fmt: killed at $delay ms: old checkpoint changed"
    elif cmp -s "$tmp/now.table" "$tmp/new.table"; then
      ok "$fmt: killed at $delay ms: new checkpoint complete"
      cp "$tmp/old.$fmt" "$out" # back to the old one for the next round
    else
      bad "$fmt: killed at $delay ms: the checkpoint is neither the old nor the new one"
    fi
  done
  [ $kills -ge 3 ] || echo "info: $fmt: only $kills of the conversions were still running when killed"
  left=$(ls -a "$dir" | grep -c '\.tmp-')
  echo "info: $fmt: $left temporary files left by the killed writers"
  # The next save removes the leftovers of writers that are gone.
  "$clippo" convert --quiet "$model" "$out" || bad "$fmt: convert after the kills"
  no_tmp_files "$fmt: after the next save" "$dir"
done

# ---- kill -9 during training with a checkpoint every step ---------------------------------

fonts=(--font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex")
if "$clippo" devices --check >/dev/null 2>&1; then
  tdir=$tmp/train
  mkdir -p "$tdir"
  for delay in 0.3 0.7 1.2; do
    "$clippo" train --init "$model" --images "$fx/images.npy" --texts "$fx/texts.txt" "${fonts[@]}" \
      --batch-size 2 --steps 100000 --checkpoint-every 1 --save "$tdir/run.h5" --quiet \
      >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -e "$tdir/run.h5" ] && break; sleep 0.1; done
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if "$clippo" inspect --opt "$tdir/run.h5" >"$tmp/t.out" 2>"$tmp/err"; then
      ok "training killed ${delay} s after its first checkpoint: $(grep -m1 '^step' "$tmp/t.out"), loads"
    else
      bad "training killed: the checkpoint does not load: $(head -1 "$tmp/err")"
    fi
  done
  # The next save of that checkpoint removes what the killed runs left behind.
  "$clippo" convert --quiet "$tdir/run.h5" "$tdir/run.h5" 2>/dev/null
  no_tmp_files "training killed: after the next save" "$tdir"
else
  skip "kill during training (no OpenCL device)"
fi

# ---- disk full -------------------------------------------------------------------------------

full=$tmp/full
mkdir -p "$full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m tmpfs "$full" 2>/dev/null; then
  mounts+=("$full")
  "$clippo" convert --quiet "$model" "$full/ckpt.h5" 2>"$tmp/err" || bad "a 586 KB checkpoint does not fit in 1 MiB: $(cat "$tmp/err")"
  cp "$full/ckpt.h5" "$tmp/full-old.h5"
  "$clippo" convert "$model" "$full/ckpt.h5" >/dev/null 2>"$tmp/err"
  rc=$?
  clean_error "disk full: convert to .h5 over a good checkpoint" "ckpt.h5.*(space|write|flush|clos)"
  cmp -s "$full/ckpt.h5" "$tmp/full-old.h5" && ok "disk full: old .h5 intact" || bad "disk full: old .h5 changed"
  "$clippo" convert "$model" "$full/ckpt.npz" >/dev/null 2>"$tmp/err"
  rc=$?
  clean_error "disk full: convert to .npz" "ckpt.npz"
  [ ! -e "$full/ckpt.npz" ] && ok "disk full: no partial .npz" || bad "disk full: partial .npz left"
  # Fill what is left, then try the small writers.
  dd if=/dev/zero of="$full/filler" bs=4096 2>/dev/null
  "$clippo" embed --model "$model" --images "$fx/images.npy" --out "$full/emb.npy" 2>"$tmp/err"
  rc=$?
  clean_error "disk full: embed --out" "emb.npy.*(space|write)"
  "$clippo" render --quiet "text" --out "$full/r.png" 2>"$tmp/err"
  rc=$?
  clean_error "disk full: render --out .png" "r.png"
  "$clippo" render --quiet "text" --out "$full/r.pgm" 2>"$tmp/err"
  rc=$?
  clean_error "disk full: render --out .pgm" "r.pgm"
  for f in emb.npy r.png r.pgm; do [ -e "$full/$f" ] && bad "disk full: partial $f left"; done
  no_tmp_files "disk full" "$full"
  cmp -s "$full/ckpt.h5" "$tmp/full-old.h5" && "$clippo" inspect "$full/ckpt.h5" >/dev/null &&
    ok "disk full: the checkpoint still loads" || bad "disk full: the checkpoint was damaged"
else
  skip "disk full (cannot mount a small tmpfs: not root, or not allowed here)"
fi

# ---- device out of memory (PoCL) ---------------------------------------------------------------

if "$clippo" devices 2>/dev/null | grep -q 'Portable Computing Language'; then
  for b in 16384 65536; do
    POCL_MEMORY_LIMIT=1 "$clippo" embed --device Portable --batch-size $b --model "$model" \
      --images "$fx/images.npy" --out "$tmp/oom.npy" 2>"$tmp/err"
    rc=$?
    clean_error "out of device memory (POCL_MEMORY_LIMIT=1, batch $b)" "device '[^']+'.*[0-9]+ bytes|memory"
    [ -e "$tmp/oom.npy" ] && bad "out of device memory: output written"
  done
else
  skip "device out of memory (no PoCL device)"
fi

# ---- kernel build failure ------------------------------------------------------------------------

mkdir -p "$tmp/precompiled"
src=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for k in "$src"/kernels/*.cl; do
  printf 'not a device binary\n' >"$tmp/precompiled/$(basename "$k" .cl).bin"
done
CLIPPO_PRECOMPILED_DIR=$tmp/precompiled "$clippo" embed --model "$model" --images "$fx/images.npy" \
  --out "$tmp/bin.npy" 2>"$tmp/err"
rc=$?
clean_error "garbage precompiled kernel binaries" "precompiled.*\.bin.*device"
[ -e "$tmp/bin.npy" ] && bad "garbage kernels: output written"

echo "$passed passed, $fail failed"
finish
