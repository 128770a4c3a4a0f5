#!/usr/bin/env bash
# `clippo train` from the command line with the tiny fixture model: help and usage errors, the
# gradient-check form (sgd, lr 1, one step) writing OUT.h5, metrics, the loss plot, --stop-at and
# --resume, and a diverging run stopping with exit 1.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
fonts="--font $shared/fonts/unifont-9.0.06.hex --font $shared/fonts/unifont_upper-9.0.06.hex"

"$clippo" train --help | grep -q -- "--accumulate"; check "train --help" 0 $?
"$clippo" train --steps abc >/dev/null 2>&1; check "bad --steps" 2 $?
"$clippo" train --bogus >/dev/null 2>&1; check "unknown option" 2 $?
"$clippo" train --images x.npy >/dev/null 2>&1; check "no model" 2 $?
"$clippo" train --init "$fx/model.npz" --quiet --save "$tmp/x.h5" >/dev/null 2>&1; check "no data" 1 $?

if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device"
  finish
fi

# the gradient-check form
out=$("$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" \
  $fonts --optimizer sgd --lr 1 --no-clip --weight-decay 0 --steps 1 --batch-size 4 \
  --save "$tmp/out.h5" --log "$tmp/m.jsonl" 2>"$tmp/err"); rc=$?
check "sgd step" 0 $rc
[ $rc = 0 ] || cat "$tmp/err"
echo "$out" | grep -q "loss 2.859" || { echo "FAIL: first loss is not the fixture's: $out"; fail=1; }
[ -s "$tmp/out.h5" ] || { echo "FAIL: no checkpoint"; fail=1; }
[ -s "$tmp/out.loss.svg" ] || { echo "FAIL: no loss plot"; fail=1; }
grep -q '"step": 1, ' "$tmp/m.jsonl" || { echo "FAIL: metrics line"; fail=1; }
# the checkpoint is a model `clippo embed` could load: train from it again
"$clippo" train --init "$tmp/out.h5" --images "$fx/images.npy" --texts "$fx/texts.txt" $fonts \
  --optimizer adamw --lr 1e-3 --steps 2 --quiet --save "$tmp/again.h5"; check "init from h5" 0 $?

# stop and resume; the metrics log continues without repeating steps
"$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" $fonts \
  --batch-size 2 --shuffle --steps 4 --stop-at 2 --lr 0.01 --save "$tmp/part.h5" --quiet \
  --log "$tmp/r.jsonl"
check "stop at 2" 0 $?
# as if the run had gone on past its checkpoint before being killed
sed -n 2p "$tmp/r.jsonl" | sed 's/"step": 2,/"step": 3,/' >>"$tmp/r.jsonl"
"$clippo" train --resume "$tmp/part.h5" --save "$tmp/done.h5" --log "$tmp/r.jsonl" >"$tmp/out2" 2>&1
check "resume" 0 $?
grep -q "trained 2 steps" "$tmp/out2" || { echo "FAIL: resume ran $(cat "$tmp/out2")"; fail=1; }
steps=$(grep -o '"step": [0-9]*' "$tmp/r.jsonl" | tr -dc '0-9\n' | tr '\n' ' ')
[ "$steps" = "1 2 3 4 " ] || { echo "FAIL: log steps after resume: $steps"; fail=1; }
times=$(grep -o '"time_s": [0-9.]*' "$tmp/r.jsonl" | cut -d' ' -f2 | tr '\n' ' ')
sort -c -n <(echo "$times" | tr ' ' '\n' | grep .) 2>/dev/null ||
  { echo "FAIL: time_s not cumulative: $times"; fail=1; }

# divergence: exit 1, message, the last checkpoint kept
"$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" $fonts \
  --optimizer sgd --lr 1e30 --steps 6 --checkpoint-every 1 --save "$tmp/nan.h5" --quiet \
  2>"$tmp/nanerr"
check "diverging run" 1 $? "$tmp/nanerr"
grep -q "stopped" "$tmp/nanerr" || { echo "FAIL: no stop message: $(cat "$tmp/nanerr")"; fail=1; }
finish
