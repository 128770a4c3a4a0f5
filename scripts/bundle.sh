#!/usr/bin/env bash
# Makes a relocatable bundle of clippo for another x86-64 Linux that has nothing installed but an
# OpenCL driver: the `clippo` program, its CMocka test programs and benchmarks, every shared
# library they need that is not part of glibc (found through the dynamic linker, with ldd), the
# program's data (default model, configs, prompt files), Debian's Unifont and the test fixtures.
#
#   scripts/bundle.sh [--build DIR] [--shared DIR] [--out DIR] [--no-tests] [--tar]
#
# Layout: OUT/bin (programs, RPATH $ORIGIN/../lib), OUT/lib (libraries, RUNPATH $ORIGIN; the C++ runtime in OUT/lib/compat),
# OUT/share/clippo (data), OUT/shared (fixtures and fonts for the tests, when --shared exists),
# OUT/source (the few source-tree files the tests read), OUT/MANIFEST.txt. An existing OUT is
# replaced only when it is an earlier bundle; anything else there is refused (exit 2), not deleted.
# The OpenCL ICD loader (libOpenCL.so.1, ocl-icd) is bundled; vendor drivers (ICDs) are not:
# scripts/device-check.sh finds them on the target machine. Needs patchelf and ldd.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build
shared=$here/../shared
out=$here/out/clippo-bundle
with_tests=1
make_tar=0
while [ $# -gt 0 ]; do
  case $1 in
  --build) build=$2; shift 2 ;;
  --shared) shared=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --no-tests) with_tests=0; shift ;;
  --tar) make_tar=1; shift ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "bundle.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# Only an earlier bundle is replaced: an existing folder that is not one (no MANIFEST.txt and
# bin/clippo, or other entries beside a bundle's) is refused, never deleted.
if [ -e "$out" ] || [ -L "$out" ]; then
  if [ -L "$out" ] || [ ! -d "$out" ] || [ ! -f "$out/MANIFEST.txt" ] || [ ! -f "$out/bin/clippo" ]; then
    echo "bundle.sh: '$out' exists and is not a bundle made by this script: choose another --out or remove it yourself" >&2
    exit 2
  fi
  for e in "$out"/* "$out"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case ${e##*/} in
    bin | lib | share | shared | source | MANIFEST.txt | device-check.sh) ;;
    *) echo "bundle.sh: '$out' holds '${e##*/}', which a bundle does not: not replacing it" >&2; exit 2 ;;
    esac
  done
fi
command -v patchelf >/dev/null || { echo "bundle.sh: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }
[ -x "$build/clippo" ] || { echo "bundle.sh: no program at $build/clippo: build first (cmake --build $build)" >&2; exit 1; }

rm -rf "$out" # an earlier bundle (checked above), or nothing
mkdir -p "$out/bin" "$out/lib" "$out/share/clippo"

programs=("$build/clippo")
if [ "$with_tests" = 1 ]; then
  for f in "$build"/test_* "$build"/bench_*; do
    [ -f "$f" ] && [ -x "$f" ] && programs+=("$f")
  done
fi

# glibc's own libraries and the dynamic loader are part of every Linux: never bundled (a bundled
# libc would not match the target's loader).
is_base() {
  case $(basename "$1") in
  linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | \
    librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libmvec.so.*) return 0 ;;
  esac
  return 1
}

declare -A seen=()
for p in "${programs[@]}"; do
  cp "$p" "$out/bin/"
  while read -r lib; do
    [ -n "$lib" ] || continue
    is_base "$lib" && continue
    real=$(readlink -f "$lib")
    name=$(basename "$lib")
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    # The C++ runtime is needed by CLBlast; nearly every Linux has a recent enough one, and the
    # bundled copy needs a newer glibc than the rest: it goes to lib/compat, used only where the
    # target has none (device-check.sh adds it to LD_LIBRARY_PATH then).
    dest=$out/lib
    case $name in libstdc++.so.* | libgcc_s.so.*) dest=$out/lib/compat ;; esac
    mkdir -p "$dest"
    cp "$real" "$dest/$name"
    chmod u+w "$dest/$name"
  done < <(ldd "$p" | awk '/=> \//{print $3}')
done
for p in "$out"/bin/*; do patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$p"; done
for l in "$out"/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$l"; done

# The program's data, as an install puts it under share/clippo.
mkdir -p "$out/share/clippo/weights" "$out/share/clippo/configs" "$out/share/clippo/fonts"
cp "$here/weights/fmnist.h5" "$out/share/clippo/weights/"
cp "$here"/configs/* "$out/share/clippo/configs/"
for f in /usr/share/unifont/unifont.hex /usr/share/unifont/unifont_upper.hex; do
  [ -f "$f" ] && cp "$f" "$out/share/clippo/fonts/"
done

if [ "$with_tests" = 1 ]; then
  # Source-tree files some tests read (configs, fuzz corpora and regressions).
  mkdir -p "$out/source/tests"
  cp -r "$here/configs" "$out/source/"
  cp -r "$here/tests/fuzz" "$out/source/tests/" 2>/dev/null || true
  if [ -d "$shared/fixtures" ]; then
    mkdir -p "$out/shared"
    cp -r "$shared/fixtures" "$out/shared/"
    [ -d "$shared/fonts" ] && cp -r "$shared/fonts" "$out/shared/"
  else
    echo "bundle.sh: warning: no fixtures at $shared/fixtures: tests that need them will fail" >&2
  fi
fi

glibc_needed() { objdump -T "$@" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | cut -d_ -f2; }
{
  echo "clippo bundle"
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "glibc needed: $(glibc_needed "$out"/bin/* "$out"/lib/*.so*) (lib/compat: $(glibc_needed "$out"/lib/compat/*))"
  echo "programs:"
  for p in "$out"/bin/*; do echo "  $(basename "$p")"; done
  echo "libraries:"
  for l in "$out"/lib/*.so* "$out"/lib/compat/*; do echo "  ${l#"$out"/lib/}"; done
} >"$out/MANIFEST.txt"
cp "$here/scripts/device-check.sh" "$out/"

echo "bundle.sh: $out ($(du -sh "$out" | cut -f1), ${#programs[@]} programs, $(find "$out/lib" -type f | wc -l) libraries)"
if [ "$make_tar" = 1 ]; then
  tar -C "$(dirname "$out")" -cJf "$out.tar.xz" "$(basename "$out")"
  echo "bundle.sh: $out.tar.xz ($(du -sh "$out.tar.xz" | cut -f1))"
fi
