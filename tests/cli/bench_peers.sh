#!/usr/bin/env bash
# `clippo bench` runs the peer runtimes through bench/peers/peers.py in bench/peers/.venv: here a
# stand-in interpreter (a shell script printing canned rows, one peer failing) under a fake
# CLIPPO_SOURCE_DIR, so the test needs no PyPI: every peer gets a row, the failing one "failed"
# with its exit status (and the run exits 1, as for any failed measurement), the clippo row its
# ratio to the fastest float32 peer (int8 left out; in int8, CLIPPO_PRECISION=int8, to the int8
# peer); the peers run twice, before and after the
# engine's rows (the stand-in answers the second time with other rates), then the engine's rows
# again, and each row, the engine's as the peers', keeps its faster pass; without the environment one row says how to make it. $1 = path of the clippo
# binary.
set -u
CLIPPO=${1:?usage: bench_peers.sh PATH_TO_CLIPPO}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
if ! "$CLIPPO" devices >/dev/null 2>&1 || [ "$("$CLIPPO" devices | wc -l)" -lt 2 ]; then
  skip "no OpenCL device"
  finish
fi
command -v python3 >/dev/null || { echo "FAIL: python3 is needed to read the report"; exit 1; }

src=$TMP/src
mkdir -p "$src/bench/peers/.venv/bin"
: >"$src/bench/peers/peers.py"
cat >"$src/bench/peers/.venv/bin/python" <<SH
#!/bin/sh
state=$TMP/calls
SH
cat >>"$src/bench/peers/.venv/bin/python" <<'SH'
# stand-in for the peers' interpreter: $1 peers.py, $2 embed|train, then --runtime R --batch B ...
# The second call for a runtime (the pass after the engine's rows) answers with other rates.
shift
what=$1
shift
rt=torch
batch=64
while [ $# -gt 0 ]; do
  case $1 in
  --runtime) rt=$2; shift 2 ;;
  --batch) batch=$2; shift 2 ;;
  *) shift ;;
  esac
done
pass=1
[ -e "$state.$rt.$batch" ] && pass=2
: >"$state.$rt.$batch"
case $rt.$pass in
openvino.*) echo "Traceback: no CPU plugin" >&2; exit 3 ;;
onnxruntime.1) rate=1.5 ;;
onnxruntime.2) rate=1.25 ;;
torch.*) rate=2.0 ;;
torch-compile.1) rate=2.5 ;;
torch-compile.2) rate=3.125 ;;
onnxruntime-int8.*) rate=1000 ;;
esac
median=$(awk -v b="$batch" -v r="$rate" 'BEGIN { print b / r }')
if [ "$what" = embed ]; then
  printf '{"suite":"embed","name":"b16","impl":"peer-%s","status":"ok","rate_unit":"images/s","batch":%s,"runs":2,"median_s":%s,"min_s":%s,"rate":%s}\n' "$rt" "$batch" "$median" "$median" "$rate"
fi
SH
chmod +x "$src/bench/peers/.venv/bin/python"

dev=${CLIPPO_TEST_DEVICES:-0:0}
dev=${dev%%,*}
CLIPPO_SOURCE_DIR=$src "$CLIPPO" bench --suite embed --variants b16 --batches 1 --quick --runs 1 \
  --no-pytorch --device "$dev" --out "$TMP/r" >"$TMP/out" 2>"$TMP/err"
check "bench with a failing peer" 1 $?
json=$(find "$TMP/r" -name "bench-*.json" | head -1)
if [ -z "$json" ]; then
  echo "FAIL: no report: $(tail -3 "$TMP/err")"
  fail=1
elif python3 - "$json" <<'PY'; then
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
peers = {r["impl"]: r for r in rows if r["impl"].startswith("peer-")}
assert set(peers) == {"peer-onnxruntime", "peer-openvino", "peer-torch", "peer-torch-compile",
                      "peer-onnxruntime-int8"}, sorted(peers)
assert peers["peer-openvino"]["status"] == "failed", peers["peer-openvino"]
assert "exited with 3" in peers["peer-openvino"]["note"], peers["peer-openvino"]["note"]
# the faster pass of each: torch.compile's second (3.125), ONNX Runtime's first (1.5)
assert peers["peer-torch-compile"]["rate"] == 3.125, peers["peer-torch-compile"]
assert "faster of two passes" in peers["peer-torch-compile"]["note"], peers["peer-torch-compile"]
assert "400.000, 320.000 ms" in peers["peer-torch-compile"]["note"], peers["peer-torch-compile"]
assert peers["peer-onnxruntime"]["rate"] == 1.5, peers["peer-onnxruntime"]
mine = [r for r in rows if r["impl"] == "clippo" and r["suite"] == "embed" and r["batch"] == 1]
assert mine and mine[0]["status"] == "ok", mine
assert mine[0]["ratio_to"] == "peer-torch-compile", mine[0]
# the engine's row too has two passes, the second after the peers' second, and keeps the faster
assert "faster of two passes, the second after the peers' second" in mine[0]["note"], mine[0]
assert abs(mine[0]["ratio"] - mine[0]["rate"] / 3.125) < 1e-6 * mine[0]["ratio"], mine[0]
PY
  echo "ok: peer rows, the failed peer, the faster of two passes on both sides, the ratio to the fastest float32 peer"
else
  echo "FAIL: report $json"
  fail=1
fi
expect "peer rows printed" "$TMP/out" "peer-torch-compile"

# With the engine in int8 (CLIPPO_PRECISION=int8, oneDNN on a host-unified CPU device) the report
# says so and the ratio is to the int8 peer. Devices without int8 products refuse the setting.
rm -f "$TMP"/calls.*
CLIPPO_PRECISION=int8 CLIPPO_SOURCE_DIR=$src "$CLIPPO" bench --suite embed --variants b16 \
  --batches 1 --quick --runs 1 --no-pytorch --device "$dev" --out "$TMP/r8" >"$TMP/out8" 2>"$TMP/err8"
rc=$?
if [ $rc -ne 1 ] && grep -qi "int8" "$TMP/err8"; then
  echo "int8 not on $dev ($(head -1 "$TMP/err8")): the int8 report is not checked there"
else
  check "bench in int8 with a failing peer" 1 $rc
  json=$(find "$TMP/r8" -name "bench-*.json" | head -1)
  if [ -n "$json" ] && python3 - "$json" <<'PY'; then
import json, sys
rep = json.load(open(sys.argv[1]))
assert rep["settings"]["precision"] == "int8", rep["settings"]
mine = [r for r in rep["rows"] if r["impl"] == "clippo" and r["suite"] == "embed" and r["batch"] == 1]
assert mine and mine[0]["ratio_to"] == "peer-onnxruntime-int8", mine
assert abs(mine[0]["ratio"] - mine[0]["rate"] / 1000) < 1e-6 * mine[0]["ratio"], mine[0]
PY
    echo "ok: in int8 the report says so and the ratio is to the int8 peer"
  else
    echo "FAIL: int8 report ${json:-missing}: $(tail -3 "$TMP/err8")"
    fail=1
  fi
  cat "$TMP/r8"/bench-*.md >"$TMP/r8.md" 2>/dev/null
  expect "the settings line names int8" "$TMP/r8.md" "the engine's products in int8"
fi

# Without the environment: one row says how to make it; the run still succeeds. A copy of the
# program in an empty tree, run from there, so that no real bench/peers is found beside it.
mkdir -p "$TMP/empty/bin"
cp "$CLIPPO" "$TMP/empty/bin/clippo"
(cd "$TMP/empty" && CLIPPO_SOURCE_DIR=$TMP/empty ./bin/clippo bench --suite embed --variants b16 --batches 1 --quick \
  --runs 1 --no-pytorch --device "$dev" --out "$TMP/r2" >"$TMP/out" 2>"$TMP/err")
check "bench without peers" 0 $?
cat "$TMP/r2"/bench-*.md >"$TMP/r2.md" 2>/dev/null
expect "a row says how to make the peers" "$TMP/r2.md" "bench/peers/setup.sh"
finish
