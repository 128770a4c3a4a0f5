#!/usr/bin/env bash
# `clippo bench`: usage errors, then the quick probe and op suites on every device (or those in
# CLIPPO_TEST_DEVICES) and the cold/warm build suite on the first one, with the JSON, Markdown
# and SVG reports checked. $1 = path of the clippo binary.
set -u
CLIPPO=${1:?usage: bench.sh PATH_TO_CLIPPO}
# ASan builds: keep the fast unwinder on malloc. With the slow one, rusticl's LLVM JIT deadlocks
# (libgcc's _Unwind_Find_FDE mallocs under its lock; ASan's malloc unwinds through the same lock).
case ":${ASAN_OPTIONS:-}:" in
*:fast_unwind_on_malloc=*) ;;
*) export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=1" ;;
esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# expect CODE CMD...: runs CMD and checks its exit code.
expect() {
  local code=$1
  shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  [ "$rc" -eq "$code" ] || fail "exit $rc (want $code): $* -- $(tail -3 "$TMP/err")"
}

expect 0 "$CLIPPO" bench --help
grep -q -- "--all-devices" "$TMP/out" || fail "bench --help lacks --all-devices"
expect 2 "$CLIPPO" bench --suite probe,nope
grep -q "unknown benchmark suite 'nope'" "$TMP/err" || fail "bad suite message: $(cat "$TMP/err")"
expect 2 "$CLIPPO" bench --runs 0
expect 2 "$CLIPPO" bench --batches 1,x
expect 2 "$CLIPPO" bench --variants b16,h14
expect 2 "$CLIPPO" bench --device 0:0 --all-devices
expect 2 "$CLIPPO" bench --bogus

if ! "$CLIPPO" devices >/dev/null 2>&1 || [ "$("$CLIPPO" devices | wc -l)" -lt 2 ]; then
  echo "skip: no OpenCL device"
  [ "$fails" -eq 0 ] && exit 77 # SKIP_RETURN_CODE: ctest shows "Skipped"
  exit 1
fi

# The devices: CLIPPO_TEST_DEVICES (comma-separated specs) or all of them.
if [ -n "${CLIPPO_TEST_DEVICES:-}" ]; then
  IFS=, read -r -a specs <<<"$CLIPPO_TEST_DEVICES"
  for s in "${specs[@]}"; do
    expect 0 "$CLIPPO" bench --quick --suite probe,ops --runs 2 --device "$s" --out "$TMP/r"
  done
  ndev=${#specs[@]}
  first=${specs[0]}
else
  expect 0 "$CLIPPO" bench --quick --suite probe,ops --runs 2 --all-devices --out "$TMP/r"
  ndev=$(("$("$CLIPPO" devices | wc -l)" - 1))
  first=0:0
fi
cat "$TMP/out"
njson=$(find "$TMP/r" -name "bench-*.json" 2>/dev/null | wc -l)
[ "$njson" -eq "$ndev" ] || fail "$njson JSON reports for $ndev devices"

check_report() { # check_report JSON [required ops...]
  local json=$1
  shift
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$json" "$@" <<'EOF' || fail "report $json"
import json, sys, xml.etree.ElementTree as ET
path, want = sys.argv[1], sys.argv[2:]
r = json.load(open(path))
bad = []
for key in ("device", "host", "settings", "peak", "rows", "started"):
    if key not in r:
        bad.append("missing " + key)
if r["peak"]["gflops"] <= 0 or r["peak"]["gbps"] <= 0:
    bad.append("no peak: %r" % r["peak"])
rows = r["rows"]
for w in rows:
    if w["status"] != "ok":
        bad.append("%s/%s %s: %s" % (w["suite"], w["name"], w["status"], w["note"]))
    elif w["suite"] in ("ops", "probe", "gemm", "embed"):
        if w["median_s"] <= 0 or w["runs"] < 1:
            bad.append("%s/%s has no time" % (w["suite"], w["name"]))
        if w["gflops"] <= 0 and w["gbps"] <= 0:
            bad.append("%s/%s has neither GFLOP/s nor GB/s" % (w["suite"], w["name"]))
        if w["pct_peak"] <= 0:
            bad.append("%s/%s has no %% of peak" % (w["suite"], w["name"]))
names = {(w["suite"], w["name"]) for w in rows}
for n in want:
    s, _, name = n.partition("/")
    if (s, name) not in names:
        bad.append("no row " + n)
base = path[:-len(".json")]
md = open(base + ".md").read()
if "| name | impl |" not in md or r["device"]["name"] not in md:
    bad.append("markdown table missing")
svg = ET.parse(base + ".svg").getroot()
if not svg.tag.endswith("svg") or not any(e.tag.endswith("rect") for e in svg.iter()):
    bad.append("svg has no bars")
if bad:
    print("\n".join(bad))
    sys.exit(1)
EOF
  else
    grep -q '"rows"' "$json" || fail "$json has no rows"
    grep -q '"status":[[:space:]]*"failed"' "$json" && fail "$json has failed rows"
    for n in "$@"; do grep -q "\"name\":[[:space:]]*\"${n#*/}\"" "$json" || fail "$json lacks $n"; done
    grep -q "<svg" "${json%.json}.svg" || fail "no SVG next to $json"
  fi
}

for j in "$TMP"/r/bench-*.json; do
  check_report "$j" probe/fma probe/copy probe/triad ops/patch_embed ops/layernorm ops/softmax \
    ops/gelu ops/attention ops/loss
done

# Cold and warm build of the quick kernel subset, in child processes with fresh caches.
expect 0 "$CLIPPO" bench --quick --suite build --device "$first" --out "$TMP/b"
cat "$TMP/out"
grep -q "^build  cold" "$TMP/out" || fail "no cold build line"
grep -q "^build  warm" "$TMP/out" || fail "no warm build line"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$TMP"/b/bench-*.json <<'EOF' || fail "build report"
import json, sys
rows = {w["name"]: w for w in json.load(open(sys.argv[1]))["rows"]}
cold, warm = rows["cold"], rows["warm"]
assert cold["status"] == "ok" and warm["status"] == "ok", (cold, warm)
assert cold["median_s"] > 0 and warm["median_s"] > 0
assert "4 kernel files" in cold["shape"], cold
assert "0 from clippo's cache" in cold["note"] and "4 from clippo's cache" in warm["note"], rows
EOF
fi
# --profile: the train suite's planned forward + backward broken down by step (suite "profile").
expect 0 "$CLIPPO" bench --quick --suite train --profile --runs 1 --no-peers --no-pytorch \
  --device "$first" --out "$TMP/p"
grep -q "^profile gemm " "$TMP/out" || fail "no profile line for a GEMM: $(head -5 "$TMP/out")"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$TMP"/p/bench-*.json <<'EOF' || fail "profile report"
import json, sys
rows = [w for w in json.load(open(sys.argv[1]))["rows"] if w["suite"] == "profile"]
assert rows, "no profile rows"
assert all(w["status"] == "ok" and w["median_s"] >= 0 for w in rows), rows
names = [w["name"] for w in rows]
assert len(set(names)) == len(names), names
assert any(n.startswith("gemm ") for n in names) and "layernorm_row" in names, names
assert all((w["gflops"] > 0) == w["name"].startswith("gemm ") for w in rows), rows
assert abs(sum(w["rate"] for w in rows) - 100.0) < 0.5, sum(w["rate"] for w in rows)
assert [w["median_s"] for w in rows] == sorted((w["median_s"] for w in rows), reverse=True)
assert all("forward + backward" in w["shape"] and "steps per call" in w["note"] for w in rows)
EOF
fi
exit $fails
