#!/usr/bin/env bash
# Ctrl-C and SIGTERM during `clippo train` (issue 12 point 2): once the first step is logged the
# signal stops the run at the next safe point, the checkpoint of the last finished step is
# written (it loads and records that step), the command that resumes is printed, the exit status
# is 130 (SIGINT) / 143 (SIGTERM), and running the printed command continues at the next step
# (the metrics log then holds every step once).
set -u
clippo=$1
shared=${CLIPPO_SHARED_DIR:?}
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_shared "$shared"
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fx=$shared/fixtures/tiny
if ! "$clippo" devices --check >/dev/null 2>&1; then
  skip "no OpenCL device"
  finish
fi
cd "$tmp" || exit 1

# interrupt SIGNAL EXPECTED_RC NAME: a long run, the signal once step 1 is in the log, checks.
interrupt() {
  local sig=$1 want=$2 name=$3 rc left
  local dir=$tmp/$name
  mkdir -p "$dir"
  "$clippo" train --init "$fx/model.npz" --images "$fx/images.npy" --texts "$fx/texts.txt" \
    --font "$shared/fonts/unifont-9.0.06.hex" --font "$shared/fonts/unifont_upper-9.0.06.hex" \
    --batch-size 2 --shuffle --lr 0.01 --steps 100000 --save "$dir/run.h5" \
    --log "$dir/run.jsonl" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 1200); do
    grep -q '"step": 1,' "$dir/run.jsonl" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '"step": 1,' "$dir/run.jsonl" 2>/dev/null; then
    echo "FAIL: $name: no step logged within 120 s:"
    cat "$dir/err"
    fail=1
    return
  fi
  kill -s "$sig" "$pid"
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: $name: still running 60 s after SIG$sig"
    kill -9 "$pid"
    wait "$pid"
    pid=
    fail=1
    return
  fi
  wait "$pid"
  rc=$?
  pid=
  check "$name: exit status" "$want" $rc
  expect "$name: says it was interrupted" "$dir/err" "interrupted after step"
  expect "$name: prints the command that resumes" "$dir/err" \
    "resume with: clippo train --resume $dir/run.h5"
  local step
  step=$(grep -o 'interrupted after step [0-9]*' "$dir/err" | grep -o '[0-9]*$')
  [ -n "$step" ] || { echo "FAIL: $name: no step in the message"; fail=1; return; }
  # the checkpoint loads and holds the step it says
  if "$clippo" inspect --opt "$dir/run.h5" >"$dir/inspect" 2>&1; then
    expect "$name: checkpoint of step $step loads" "$dir/inspect" "^step: $step\$"
  else
    echo "FAIL: $name: the checkpoint does not load: $(head -3 "$dir/inspect")"
    fail=1
  fi
  left=$(find "$dir" -name '*.tmp-*')
  [ -z "$left" ] || { echo "FAIL: $name: temporary files left: $left"; fail=1; }
  # the printed command, two more steps
  local cmd
  cmd=$(grep -o 'resume with: clippo train .*' "$dir/err" | sed 's/^resume with: clippo //')
  # shellcheck disable=SC2086 # the printed command is plain words here
  "$clippo" $cmd --stop-at $((step + 2)) --quiet >"$dir/out2" 2>&1
  check "$name: the printed command resumes" 0 $?
  "$clippo" inspect --opt "$dir/run.h5" >"$dir/inspect2" 2>&1
  expect "$name: resumed to step $((step + 2))" "$dir/inspect2" "^step: $((step + 2))\$"
  local steps want_steps
  steps=$(grep -o '"step": [0-9]*' "$dir/run.jsonl" | grep -o '[0-9]*$' | tr '\n' ' ')
  want_steps=$(seq 1 $((step + 2)) | tr '\n' ' ')
  if [ "$steps" = "$want_steps" ]; then
    echo "ok: $name: the log continues at step $((step + 1))"
  else
    echo "FAIL: $name: log steps '$steps', expected '$want_steps'"
    fail=1
  fi
}

interrupt INT 130 sigint
interrupt TERM 143 sigterm
finish
