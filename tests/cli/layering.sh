#!/usr/bin/env bash
# The layers of host/ stay as DESIGN.md and README say, checked on the sources (no program run):
#  1. getenv only in the command-line program (host/cli) and the runtime's settings
#     (host/runtime/settings.c, clippo_settings_from_env): every other layer reads rt->settings or
#     takes the value as an argument.
#  2. No file includes another folder's private header ("ops/ops_internal.h" from host/train, a
#     "../" path...): a layer's private header stays in its folder; others use include/clippo/.
#  3. No layer includes the public header of a layer above it. The order, bottom up: runtime (with
#     status, array, atomic_file, strbuf and graph; and dist, the communicator of distributed runs, on
#     the same level), gemm, ops, model, io, text, train, tasks, bench, cli.
#     Known exceptions are listed below by file, with the reason; a new one fails the test.
# $1 (the clippo binary) is not used. Sources: $CLIPPO_SOURCE_DIR, else this script's checkout.
set -u
root=${CLIPPO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$root/tests/cli/lib/checks.sh"
fail=0
cd "$root" || exit 1
[ -d host ] || { echo "FAIL: no host/ folder in $root"; exit 1; }

# 1. getenv
found=$(grep -rn getenv host | grep -v '^host/cli/\|^host/runtime/settings\.c:')
if [ -n "$found" ]; then
  echo "FAIL: getenv outside host/cli and host/runtime/settings.c:"
  echo "$found"
  fail=1
else
  echo "ok: getenv only in host/cli and host/runtime/settings.c"
fi

# 2. private headers of other folders
bad=""
while IFS= read -r f; do
  dir=$(echo "$f" | cut -d/ -f2)
  while IFS= read -r inc; do
    case "$inc" in
    clippo/*) ;;
    ../*) bad="$bad$f: #include \"$inc\""$'\n' ;;
    */*) [ "${inc%%/*}" = "$dir" ] || bad="$bad$f: #include \"$inc\""$'\n' ;;
    esac
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find host -name '*.c' -o -name '*.h' | sort)
if [ -n "$bad" ]; then
  printf 'FAIL: private headers of another folder:\n%s' "$bad"
  fail=1
else
  echo "ok: no file includes another folder's private header"
fi

# 3. public headers of the layers above
declare -A level=([runtime]=0 [dist]=0 [gemm]=1 [ops]=2 [model]=3 [io]=4 [text]=5 [train]=6 [tasks]=7
  [bench]=8 [cli]=9)
declare -A header=([runtime.h]=runtime [status.h]=runtime [array.h]=runtime
  [atomic_file.h]=runtime [strbuf.h]=runtime [graph.h]=runtime [dist.h]=dist [gemm.h]=gemm [ops.h]=ops [ops_grad.h]=ops
  [ref.h]=ops [model.h]=model [params.h]=model [model_ref.h]=model [npy.h]=io [checkpoint.h]=io
  [image.h]=io [image_write.h]=io [idx.h]=io [text.h]=text [train.h]=train [tasks.h]=tasks
  [fewshot.h]=tasks [finetune.h]=tasks [typographic.h]=tasks [bench.h]=bench)
# Known exceptions (file -> header): each is a debt to pay, not a rule.
declare -A known=(
  # clippo_model_load reads a checkpoint file: the loader belongs to io (or the model takes
  # parameters only).
  ["host/model/forward.c clippo/checkpoint.h"]=1
  # the optimizer's plain C reference is a reference of the train layer kept with the op
  # references.
  ["host/ops/ref/optimizer_ref.c clippo/train.h"]=1
)
for h in include/clippo/*.h; do
  b=$(basename "$h")
  [ -n "${header[$b]:-}" ] || { echo "FAIL: $h has no layer in tests/cli/layering.sh"; fail=1; }
done
up=""
while IFS= read -r f; do
  dir=$(echo "$f" | cut -d/ -f2)
  mine=${level[$dir]:-}
  if [ -z "$mine" ]; then
    echo "FAIL: host/$dir is not a layer known to tests/cli/layering.sh"
    fail=1
    continue
  fi
  while IFS= read -r inc; do
    b=${inc#clippo/}
    owner=${header[$b]:-}
    [ -n "$owner" ] || continue
    if [ "${level[$owner]}" -gt "$mine" ] && [ -z "${known["$f $inc"]:-}" ]; then
      up="$up$f ($dir) includes $inc ($owner)"$'\n'
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(clippo\/[^"]*\)".*/\1/p' "$f")
done < <(find host -name '*.c' -o -name '*.h' | sort)
if [ -n "$up" ]; then
  printf 'FAIL: a layer includes a layer above it:\n%s' "$up"
  fail=1
else
  echo "ok: no layer includes the public header of a layer above it (${#known[@]} known exceptions)"
fi
# The exceptions must still be needed (a paid debt leaves the list).
for k in "${!known[@]}"; do
  f=${k% *}
  inc=${k#* }
  if [ -f "$f" ] && ! grep -q "#include \"$inc\"" "$f"; then
    echo "FAIL: $f no longer includes $inc: remove it from the known exceptions"
    fail=1
  fi
done
finish
