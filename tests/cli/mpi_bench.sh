#!/usr/bin/env bash
# `mpirun -np 2 clippo bench --suite comm` (issue 15): the exchanges of data-parallel training
# timed on both ranks and reported by rank 0 alone: the B/16's and the default model's gradients
# summed, a step's embeddings gathered, a training step split into computing and exchanging;
# with one rank the exchanges say there is nothing to exchange. Skipped without MPI.
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
export CLIPPO_FONT=$shared/fonts/unifont-9.0.06.hex:$shared/fonts/unifont_upper-9.0.06.hex

mpi_run 2 "$clippo" bench --suite comm --quick --runs 1 --warmup 1 --device "$dev" \
  --out "$tmp/r" >"$tmp/out" 2>&1
check "bench --suite comm, 2 ranks" 0 $?
for row in allreduce-b16 allreduce-default allgather-b16 allgather-default train-step; do
  [ "$(grep -c "^comm   $row " "$tmp/out")" = 1 ] && echo "ok: $row reported once" ||
    { echo "FAIL: $row:"; cat "$tmp/out"; fail=1; }
done
json=$(ls "$tmp"/r/bench-*.json 2>/dev/null | head -1)
[ -n "$json" ] && [ "$(ls "$tmp/r" | wc -l)" = 3 ] && echo "ok: one report (json, md, svg)" ||
  { echo "FAIL: reports: $(ls "$tmp/r")"; fail=1; }
expect "B/16 gradients: 374 MB" "$json" "93474817 float32 (374 MB)"
expect "2 ranks" "$json" "2 ranks; 373.9 MB summed in place"
expect "step split" "$json" "per step [0-9.]* s computing, [0-9.]* s exchanging"
grep -q '"status": *"failed"' "$json" && { echo "FAIL: a failed row"; fail=1; } ||
  echo "ok: no failed row"

# one rank: nothing to exchange, the step is all compute
"$clippo" bench --suite comm --quick --runs 1 --warmup 1 --device "$dev" --out "$tmp/one" \
  >"$tmp/out1" 2>&1
check "bench --suite comm, one process" 0 $?
expect "one rank: unavailable" "$tmp/one/"*.json "one rank: nothing to exchange"
finish
