#!/usr/bin/env bash
# `mpirun clippo train` when something goes wrong (issue 15), on the tiny fixture: a batch that
# does not split over the ranks, a rank that cannot open its device, ranks that start from
# different parameters, and a rank killed with SIGKILL mid-run: the job ends within 30 s with an
# error naming the rank and its host, the last checkpoint loads, and resuming it with another
# number of ranks (2 -> 1 -> 2) continues at the right step with the right data: the losses of an
# uninterrupted one-process run. Skipped without MPI.
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
# shellcheck source=lib/mpi.sh
. "$(dirname "$0")/lib/mpi.sh"
need_shared "$shared"
need_mpi "$clippo"
first_device "$clippo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
data=(--init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt"
  --font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex"
  --lr 0.01 --device "$dev")
host=$(hostname)

# a batch of 4 does not split over 3 ranks: one clear error, said once
mpi_run 3 "$clippo" train "${data[@]}" --batch-size 4 --steps 1 --save "$tmp/x.h5" \
  >"$tmp/out" 2>&1
check "batch not divisible by the ranks" 1 $?
expect "says why" "$tmp/out" "batch of 4 pairs does not split over 3 ranks"
[ "$(grep -c 'does not split' "$tmp/out")" = 1 ] && echo "ok: said once" ||
  { echo "FAIL: said $(grep -c 'does not split' "$tmp/out") times"; fail=1; }

# rank 1 cannot open its device: every rank stops, the error names rank 1 and its host
t0=$(date +%s)
mpi_run 2 "$clippo" train "${data[@]}" --device "$dev,nosuchdevice" --batch-size 4 --steps 1 \
  --save "$tmp/x.h5" >"$tmp/out" 2>&1
check "a rank without its device" 1 $?
expect "names the rank, host and device" "$tmp/out" \
  "rank 1 ($host): no OpenCL device matches 'nosuchdevice'"
[ $(($(date +%s) - t0)) -le 30 ] && echo "ok: ended within 30 s" ||
  { echo "FAIL: took $(($(date +%s) - t0)) s"; fail=1; }
[ ! -e "$tmp/x.h5" ] && echo "ok: nothing written" || { echo "FAIL: wrote x.h5"; fail=1; }

# ranks that start from different parameters (two programs, two --init): a clear error
"$clippo" train "${data[@]}" --batch-size 4 --steps 1 --quiet --save "$tmp/other.h5"
check "another start" 0 $?
args=(train --images "$fx/images.npy" --texts "$fx/texts.txt" --batch-size 4 --steps 2
  --font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex"
  --device "$dev" --save "$tmp/x.h5")
ASAN_OPTIONS=$mpi_asan timeout 300 "$CLIPPO_MPIEXEC" --oversubscribe -np 1 "$clippo" "${args[@]}" \
  --init "$fx/model.npz" \
  : -np 1 "$clippo" "${args[@]}" --init "$tmp/other.h5" >"$tmp/out" 2>&1
check "different parameters" 1 $?
expect "drift named" "$tmp/out" "parameters at the start differ between the ranks: rank 0 ($host)"

# a rank killed mid-run: SIGKILL rank 1 once a checkpoint is written
run=(--shuffle --batch-size 2 --checkpoint-every 7)
ASAN_OPTIONS=$mpi_asan "$CLIPPO_MPIEXEC" --oversubscribe -np 2 "$clippo" train "${data[@]}" \
  "${run[@]}" --steps 100000 --quiet --save "$tmp/k.h5" >"$tmp/kill.out" 2>&1 &
mp=$!
for _ in $(seq 600); do [ -s "$tmp/k.h5" ] && break; sleep 0.1; done
sleep 1
victim=""
for p in $(pgrep -P $mp); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
done
if [ -z "$victim" ] || [ ! -s "$tmp/k.h5" ]; then
  echo "FAIL: no checkpoint or no rank 1 to kill ($(pgrep -P $mp | tr '\n' ' '))"
  kill $mp 2>/dev/null
  wait $mp
  finish
fi
t0=$(date +%s.%N)
kill -KILL "$victim"
for _ in $(seq 600); do kill -0 $mp 2>/dev/null || break; sleep 0.1; done
took=$(echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}')
if kill -0 $mp 2>/dev/null; then
  echo "FAIL: the job still runs 60 s after rank 1 was killed"
  kill -KILL $mp
  fail=1
fi
wait $mp
rc=$?
[ $rc != 0 ] && echo "ok: the job failed (exit $rc)" || { echo "FAIL: exit 0"; fail=1; }
awk -v t="$took" 'BEGIN { exit !(t <= 30) }' && echo "ok: the other rank ended in $took s" ||
  { echo "FAIL: took $took s"; fail=1; }
expect "the killed rank and its host named" "$tmp/kill.out" "rank 1 .* on node $host"
pgrep -f "$tmp/k.h5" >/dev/null && { echo "FAIL: a rank survived"; fail=1; } ||
  echo "ok: no rank left"

# the last checkpoint loads; resuming it alone (2 ranks -> 1), then with 2 ranks again
step=$("$clippo" inspect "$tmp/k.h5" | sed -n 's/^step: //p')
case $step in '' | *[!0-9]*) echo "FAIL: checkpoint step '$step'"; finish ;; esac
[ $((step % 7)) = 0 ] && [ "$step" -gt 0 ] && echo "ok: checkpoint of step $step loads" ||
  { echo "FAIL: checkpoint step $step"; fail=1; }
"$clippo" train --resume "$tmp/k.h5" --save "$tmp/r1.h5" --stop-at $((step + 3)) \
  --log "$tmp/r.jsonl" --quiet
check "resume with 1 rank" 0 $?
mpi_run 2 "$clippo" train --resume "$tmp/r1.h5" --save "$tmp/r2.h5" --stop-at $((step + 5)) \
  --log "$tmp/r.jsonl" --quiet
check "resume that with 2 ranks" 0 $?
"$clippo" train "${data[@]}" "${run[@]}" --steps 100000 --stop-at $((step + 5)) --quiet \
  --save "$tmp/ref.h5" --log "$tmp/ref.jsonl"
check "uninterrupted run" 0 $?
got=$(grep -o '"step": [0-9]*' "$tmp/r.jsonl" | tr -dc '0-9\n' | tr '\n' ' ')
[ "$got" = "$((step + 1)) $((step + 2)) $((step + 3)) $((step + 4)) $((step + 5)) " ] &&
  echo "ok: resumed at step $((step + 1))" || { echo "FAIL: resumed steps: $got"; fail=1; }
# the same data at the same steps: the losses of the uninterrupted run (to 1e-4: the runs sum
# the same numbers in other orders for $step steps)
loss() { grep "\"step\": $2," "$1" | grep -o '"loss": [-0-9.e]*' | cut -d' ' -f2; }
for s in $(seq $((step + 1)) $((step + 5))); do
  a=$(loss "$tmp/r.jsonl" "$s")
  b=$(loss "$tmp/ref.jsonl" "$s")
  if awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-4 * (b < 0 ? -b : b) + 1e-6) }'; then
    echo "ok: step $s loss $a (uninterrupted: $b)"
  else
    echo "FAIL: step $s loss $a, uninterrupted $b"
    fail=1
  fi
done
finish
