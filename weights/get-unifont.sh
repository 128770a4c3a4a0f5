#!/usr/bin/env bash
# Downloads GNU Unifont 9.0.06 (the font the released CLIPPO checkpoints were trained with) from
# the GNU mirror, gunzips it and checks the SHA-256 sums.
#
# usage: weights/get-unifont.sh [TARGET_DIR]     (default: weights/fonts next to this script)
# Then: clippo render --font DIR/unifont-9.0.06.hex --font DIR/unifont_upper-9.0.06.hex ...
#   or: export CLIPPO_FONT=DIR/unifont-9.0.06.hex:DIR/unifont_upper-9.0.06.hex
set -euo pipefail

BASE_URL=${UNIFONT_MIRROR:-https://ftp.gnu.org/gnu/unifont/unifont-9.0.06}
TARGET=${1:-$(cd "$(dirname "$0")" && pwd)/fonts}

# sha256 of the uncompressed .hex files (a function, not an associative array: bash 3 on macOS)
expected_sha256() {
  case "$1" in
  unifont-9.0.06.hex) echo 099d8f0c6027ed1effa4a452a5c0874a012a6ee3ab5b1cd346aa3fbeb3368fda ;;
  unifont_upper-9.0.06.hex) echo d78af92c44332a8e32bbc1325fa920c06acfc28515034b2bba31c055a962b78c ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1 # macOS
  fi
}

fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -O "$2" "$1"
  else
    echo "get-unifont.sh: need curl or wget" >&2
    exit 1
  fi
}

mkdir -p "$TARGET"
TMP=$(mktemp -d "$TARGET/.download.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

for name in unifont-9.0.06.hex unifont_upper-9.0.06.hex; do
  want=$(expected_sha256 "$name")
  if [ -f "$TARGET/$name" ] && [ "$(sha256_of "$TARGET/$name")" = "$want" ]; then
    echo "$TARGET/$name: already present, checksum OK"
    continue
  fi
  echo "downloading $BASE_URL/$name.gz"
  fetch "$BASE_URL/$name.gz" "$TMP/$name.gz"
  gunzip -c "$TMP/$name.gz" >"$TMP/$name"
  got=$(sha256_of "$TMP/$name")
  if [ "$got" != "$want" ]; then
    echo "get-unifont.sh: checksum mismatch for $name: got $got, want $want" >&2
    exit 1
  fi
  mv -f "$TMP/$name" "$TARGET/$name"
  echo "$TARGET/$name: OK"
done
echo "fonts in $TARGET; use: export CLIPPO_FONT=$TARGET/unifont-9.0.06.hex:$TARGET/unifont_upper-9.0.06.hex"
