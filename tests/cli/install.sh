#!/usr/bin/env bash
# `cmake --install` into a temporary prefix (issue 12, point 4 and the acceptance run): the
# program, its data, headers, library, CMake package and pkg-config file are installed; the
# prefix is then moved (an installed tree finds its data next to the program, never in the
# source tree) and, from a folder outside the repository, the main jobs run with no other
# flags; a C program is built against the installed package with pkg-config and with CMake.
set -u
clippo=$1
build=$(cd "$(dirname "$clippo")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
export CLIPPO_CACHE_DIR=${CLIPPO_CACHE_DIR:-$tmp/cache}
unset CLIPPO_MODEL CLIPPO_DATA_DIR
export XDG_DATA_HOME=$tmp/xdg # the default index lives here, never in the user's home
if ! command -v cmake >/dev/null; then
  echo "FAIL: cmake is not on PATH"
  exit 1
fi

cmake --install "$build" --prefix "$tmp/staged" >"$tmp/install.log" 2>&1
check "cmake --install --prefix" 0 $?
mv "$tmp/staged" "$tmp/prefix" # a moved tree still finds its data
p=$tmp/prefix
for f in bin/clippo share/clippo/weights/fmnist.h5 share/clippo/configs/train_fmnist_tiny.json \
  share/clippo/configs/fmnist_captions.json share/clippo/configs/fmnist_prompts_en.txt \
  share/clippo/configs/fmnist_classes_de.txt include/clippo/model.h include/clippo/runtime.h; do
  [ -e "$p/$f" ] && echo "ok: installed $f" || { echo "FAIL: $f not installed"; fail=1; }
done
lib=$(find "$p" -name libclippo.a | head -1)
pc=$(find "$p" -name clippo.pc | head -1)
cfg=$(find "$p" -name clippoConfig.cmake | head -1)
[ -n "$lib" ] && [ -n "$pc" ] && [ -n "$cfg" ] && echo "ok: library, clippo.pc, clippoConfig.cmake" ||
  { echo "FAIL: library ($lib), pkg-config ($pc) or CMake package ($cfg) missing"; fail=1; }
if grep -rq "$(cd "${CLIPPO_SOURCE_DIR:-$(dirname "$0")/../..}" && pwd)" "$pc" "$(dirname "$cfg")"; then
  echo "FAIL: the installed package names the source tree"
  fail=1
fi

# a C program against the installed library: pkg-config, then find_package(clippo)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
mkdir -p "$tmp/app"
cat >"$tmp/app/main.c" <<'EOF'
#include <stdio.h>

#include <clippo/checkpoint.h>
#include <clippo/model.h>
#include <clippo/runtime.h>

/* Reads a checkpoint's config; with a device spec also loads it onto the device. */
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  clippo_error err;
  clippo_checkpoint ck = {0};
  if (clippo_checkpoint_load(argv[1], &ck, 0, &err) != CLIPPO_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  printf("width %d image_size %d\n", ck.cfg.width, ck.cfg.image_size);
  clippo_checkpoint_free(&ck);
  if (argc < 3) return 0;
  clippo_rt *rt = NULL;
  clippo_model *m = NULL;
  if (clippo_rt_create(&rt, argv[2][0] ? argv[2] : NULL, &err) != CLIPPO_OK ||
      clippo_model_load(rt, argv[1], &m, &err) != CLIPPO_OK) {
    fprintf(stderr, "%s\n", err.msg);
    clippo_rt_destroy(rt);
    return 1;
  }
  printf("loaded: depth %d\n", clippo_model_config(m)->depth);
  clippo_model_free(m);
  clippo_rt_destroy(rt);
  return 0;
}
EOF
model=$p/share/clippo/weights/fmnist.h5
# shellcheck disable=SC2046 # pkg-config prints words
PKG_CONFIG_PATH=$(dirname "$pc") "$cc" -std=c11 -Wall -Werror "$tmp/app/main.c" -o "$tmp/app/pc" \
  $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs clippo) 2>"$tmp/err"
rc=$?
check "build against clippo.pc" 0 $rc
[ $rc = 0 ] || cat "$tmp/err"
"$tmp/app/pc" "$model" >"$tmp/out" 2>&1
check "run the pkg-config build" 0 $?
expect "it read the installed model" "$tmp/out" "width 128 image_size 64"
cat >"$tmp/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(clippo_user LANGUAGES C)
find_package(clippo 0.1 REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE clippo::clippo)
EOF
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$p" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/err" 2>&1 && cmake --build "$tmp/app/build" >>"$tmp/err" 2>&1
rc=$?
check "build with find_package(clippo)" 0 $rc
[ $rc = 0 ] || cat "$tmp/err"

if ! "$p/bin/clippo" devices 2>/dev/null | grep -q '^[0-9]*:[0-9]'; then
  skip "no OpenCL device: the installed program is not run"
  finish
fi
"$tmp/app/build/app" "$model" "${CLIPPO_DEVICE:-}" >"$tmp/out" 2>&1
check "run the find_package build on a device" 0 $?
expect "it loaded the model" "$tmp/out" "loaded: depth 4"

# the main jobs from a folder outside the repository, with no other flags
work=$tmp/work
mkdir -p "$work/imgs"
cd "$work" || exit 1
PATH=$p/bin:$PATH
hash -r
[ "$(command -v clippo)" = "$p/bin/clippo" ] && echo "ok: the installed clippo runs" ||
  { echo "FAIL: clippo is $(command -v clippo)"; fail=1; }
clippo render --quiet --image-size 64 "sandal" --out imgs/sandal.png
clippo render --quiet --image-size 64 "trouser" --out imgs/trouser.png
clippo zeroshot --classes "sandal,trouser,bag" imgs/sandal.png >"$tmp/out" 2>"$tmp/err"
check "zeroshot --classes ... IMG" 0 $? "$tmp/err"
expect "zeroshot printed predictions" "$tmp/out" "sandal"
clippo index imgs 2>"$tmp/err"
check "index DIR" 0 $? "$tmp/err"
clippo search "trouser" >"$tmp/out" 2>"$tmp/err"
check "search TEXT" 0 $? "$tmp/err"
expect "search lists the images" "$tmp/out" "imgs/trouser.png"
fm=${CLIPPO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$fm/t10k-images-idx3-ubyte.gz" ]; then
  skip "Fashion-MNIST not installed ($fm): eval and train not run"
  finish
fi
clippo eval --fashion-mnist --limit 200 >"$tmp/out" 2>"$tmp/err"
check "eval --fashion-mnist" 0 $? "$tmp/err"
expect "eval used the installed model" "$tmp/out" "model $model"
expect "eval reports top-1" "$tmp/out" "top-1 accuracy"
clippo train --config "$p/share/clippo/configs/train_fmnist_tiny.json" --steps 3 --save x.h5 \
  >"$tmp/out" 2>"$tmp/err"
check "train --config share/clippo/configs/train_fmnist_tiny.json --steps 3 --save x.h5" 0 $? "$tmp/err"
[ -s x.h5 ] && echo "ok: x.h5 written" || { echo "FAIL: no x.h5"; cat "$tmp/err"; fail=1; }
[ -z "$(find "$p/share" -newer "$tmp/install.log" -type f)" ] &&
  echo "ok: nothing written into the installed tree" ||
  { echo "FAIL: written into the prefix:"; find "$p/share" -newer "$tmp/install.log" -type f; fail=1; }
finish
