#!/usr/bin/env bash
# `clippo train` never loses a run and never silently changes it (issue 12 points 1 and 12,
# issue 13 point 3): --save is required before any work; an integer option too large for its
# field is a usage error, not a wrapped value; a config's warmup/cooldown longer than a run cut
# short with --steps is cut to fit with a notice naming --warmup/--cooldown (warmup used to be
# an error, cooldown silently shrank the learning rate of every step).
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
data=(--init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt"
  --font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex")

# ---- no --save: a usage error before any work ----------------------------------------------
cd "$tmp" || exit 1
"$clippo" train "${data[@]}" --steps 2 --batch-size 2 >"$tmp/out" 2>"$tmp/err"
check "train without --save" 2 $? "$tmp/err"
expect "no --save: the error names --save" "$tmp/err" "--save"
if grep -q "trained" "$tmp/out"; then echo "FAIL: no --save: it trained anyway"; fail=1; fi
for f in "$tmp"/*; do
  case ${f##*/} in out | err) ;; *) echo "FAIL: no --save: file written: $f"; fail=1 ;; esac
done
# the output folder is checked before training too
"$clippo" train "${data[@]}" --steps 2 --batch-size 2 --save "$tmp/no/such/dir/x.h5" \
  >/dev/null 2>"$tmp/err"
check "--save into a missing folder" 1 $? "$tmp/err"
expect "missing folder named" "$tmp/err" "no/such/dir"

# ---- integers too large for their field ------------------------------------------------------
"$clippo" train "${data[@]}" --steps 1 --batch-size 2 --accumulate 4294967297 \
  --save "$tmp/acc.h5" >/dev/null 2>"$tmp/err"
check "--accumulate 4294967297" 2 $? "$tmp/err"
expect "--accumulate range named" "$tmp/err" "accumulate"
[ -e "$tmp/acc.h5" ] && { echo "FAIL: --accumulate 4294967297 trained"; fail=1; }
"$clippo" train "${data[@]}" --steps 1 --batch-size 2 --accumulate 2097152 \
  --save "$tmp/acc.h5" >/dev/null 2>&1
check "--accumulate 2^21 (over the limit)" 2 $?
for opt in --steps --warmup --cooldown --batch-size --stop-at --checkpoint-every --epochs; do
  "$clippo" train "${data[@]}" "$opt" 18446744073709551617 --save "$tmp/big.h5" >/dev/null 2>&1
  check "$opt 2^64+1" 2 $?
done
echo '{"accumulate": 4294967297}' >"$tmp/acc.json"
"$clippo" train --config "$tmp/acc.json" "${data[@]}" --save "$tmp/acc.h5" >/dev/null 2>"$tmp/err"
check "config accumulate 4294967297" 1 $? "$tmp/err"
expect "config key named" "$tmp/err" "accumulate"
echo '{"accumulate": 2000000}' >"$tmp/acc.json"
"$clippo" train --config "$tmp/acc.json" "${data[@]}" --save "$tmp/acc.h5" >/dev/null 2>"$tmp/err"
check "config accumulate 2000000 (over the limit)" 1 $? "$tmp/err"
expect "config limit named" "$tmp/err" "accumulate"

if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device for the training runs"
  finish
fi

# ---- a config's warmup and cooldown in a run cut short with --steps --------------------------
cat >"$tmp/sched.json" <<'EOF'
{"optimizer": "adafactor", "lr": 0.01, "batch_size": 2,
 "schedule": {"type": "rsqrt", "warmup": 100, "cooldown": 200, "timescale": 200}}
EOF
"$clippo" train --config "$tmp/sched.json" "${data[@]}" --steps 3 --save "$tmp/s.h5" \
  --log "$tmp/s.jsonl" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "config warmup 100 + cooldown 200, --steps 3" 0 $rc
[ $rc = 0 ] || cat "$tmp/err"
expect "notice names --warmup" "$tmp/err" "--warmup"
expect "notice names --cooldown" "$tmp/err" "--cooldown"
expect "notice gives the new lengths" "$tmp/err" "using warmup 0 and cooldown 0"
# the cooldown alone: it used to scale every step's learning rate by (3 - step) / 200
cat >"$tmp/cool.json" <<'EOF'
{"optimizer": "adafactor", "lr": 0.01, "batch_size": 2,
 "schedule": {"type": "rsqrt", "warmup": 0, "cooldown": 200, "timescale": 200}}
EOF
"$clippo" train --config "$tmp/cool.json" "${data[@]}" --steps 3 --save "$tmp/c.h5" \
  --log "$tmp/c.jsonl" >"$tmp/out" 2>"$tmp/err"
check "config cooldown 200, --steps 3" 0 $? "$tmp/err"
expect "cooldown notice names --cooldown" "$tmp/err" "--cooldown"
sched=$(grep '"step": 1,' "$tmp/c.jsonl" | grep -o '"sched": [0-9.e+-]*' | cut -d' ' -f2)
if [ "$sched" = "1" ]; then
  echo "ok: step 1 runs at the full learning rate (sched $sched)"
else
  echo "FAIL: step 1 sched is '$sched', expected 1 (cooldown shrinking the rate?)"
  fail=1
fi
# a schedule that fits is left alone, without a notice
"$clippo" train --config "$tmp/cool.json" "${data[@]}" --steps 3 --cooldown 2 \
  --save "$tmp/c2.h5" >"$tmp/out" 2>"$tmp/err"
check "--cooldown 2 in 3 steps" 0 $? "$tmp/err"
if grep -q "do not fit" "$tmp/err"; then echo "FAIL: notice for a fitting schedule"; fail=1; fi
finish
