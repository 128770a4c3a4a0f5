# Shell helpers shared by tests/cli/malformed.sh and tests/cli/faults.sh (sourced; not a test
# itself): .npy and stored-zip writers in plain bash (printf, head, tr, cat, gzip for CRC-32) and
# synthetic checkpoints with the tiny fixture's tensors. Needs $clippo, $tmp and $model set.

# ---- little-endian bytes, .npy and zip writers ---------------------------------------------
# (printf -v and caches instead of subshells: a fork costs more than all the rest here.)

le16() { printf -v "$1" '\\x%02x\\x%02x' $(($2 & 255)) $((($2 >> 8) & 255)); }
le32() {
  printf -v "$1" '\\x%02x\\x%02x\\x%02x\\x%02x' $(($2 & 255)) $((($2 >> 8) & 255)) \
    $((($2 >> 16) & 255)) $((($2 >> 24) & 255))
}
fsize() { wc -c <"$1" | tr -d ' '; }

# npy_header DESCR SHAPE [FORTRAN]: a version 1.0 .npy header, padded to 64 bytes.
npy_header() {
  local d="{'descr': '$1', 'fortran_order': ${3:-False}, 'shape': $2, }" l
  local total=$(((10 + ${#d} + 1 + 63) / 64 * 64))
  le16 l $((total - 10))
  printf "\x93NUMPY\x01\x00$l%s%*s\n" "$d" $((total - 10 - ${#d} - 1)) ''
}

# fill N BYTE: N copies of one byte (octal escape for tr, e.g. 075 = 0x3D: 0x3D3D3D3D = 0.046f).
fill() { head -c "$1" /dev/zero | tr '\0' "\\$2"; }

# repeat N PRINTF-PATTERN: the pattern's bytes repeated until N bytes.
repeat() {
  printf "$2" >"$tmp/rep"
  while [ "$(fsize "$tmp/rep")" -lt "$1" ]; do
    cat "$tmp/rep" "$tmp/rep" >"$tmp/rep2"
    mv "$tmp/rep2" "$tmp/rep"
  done
  head -c "$1" "$tmp/rep"
}

# npy OUT DESCR SHAPE COUNT ITEMSIZE [OCTBYTE]: header + COUNT*ITEMSIZE filler bytes.
npy() {
  { npy_header "$2" "$3" && fill $(($4 * $5)) "${6:-075}"; } >"$1"
}

# zip_stored OUT NAME=FILE...: a zip of stored members (the layout np.savez writes), with the
# CRC-32 of each member taken from gzip's trailer. ZIP_USIZE, ZIP_CSIZE, ZIP_ENTRIES and
# ZIP_CDOFF override what the central directory claims.
declare -A crc_of size_of
zip_stored() {
  local out=$1 off=0 n=0 cd="$tmp/zip-cd" parts=()
  shift
  : >"$cd"
  local spec name file c s c16 lc ls lo lcs lus
  for spec in "$@"; do
    name=${spec%%=*}
    file=${spec#*=}
    if [ -z "${crc_of[$file]:-}" ]; then
      size_of[$file]=$(fsize "$file")
      crc_of[$file]=$(gzip -c -n <"$file" | tail -c 8 | head -c 4 | od -An -tu4 | tr -d ' \n')
    fi
    s=${size_of[$file]}
    le32 lc "${crc_of[$file]}"
    le32 ls "$s"
    le16 c16 ${#name}
    printf "\x50\x4b\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00$lc$ls$ls$c16\x00\x00%s" \
      "$name" >"$tmp/zip-lh-$n"
    parts+=("$tmp/zip-lh-$n" "$file")
    le32 lo $off
    le32 lcs "${ZIP_CSIZE:-$s}"
    le32 lus "${ZIP_USIZE:-$s}"
    printf "\x50\x4b\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00$lc$lcs$lus$c16" >>"$cd"
    printf "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00$lo%s" "$name" >>"$cd"
    off=$((off + 30 + ${#name} + s))
    n=$((n + 1))
  done
  local le lsz lof
  le16 le "${ZIP_ENTRIES:-$n}"
  le32 lsz "$(fsize "$cd")"
  le32 lof "${ZIP_CDOFF:-$off}"
  printf "\x50\x4b\x05\x06\x00\x00\x00\x00$le$le$lsz$lof\x00\x00" >"$tmp/zip-eocd"
  cat "${parts[@]}" "$cd" "$tmp/zip-eocd" >"$out"
}

# The fixture's parameter table: "name|shape|count" lines in $tmp/table.
"$clippo" inspect "$model" | sed -n 's/^  \([^ ]*\)  *\((.*)\)  *\([0-9][0-9]*\)$/\1|\2|\3/p' \
  >"$tmp/table"
ntensors=$(wc -l <"$tmp/table")
if [ "$ntensors" -ne 55 ]; then
  echo "FAIL: cannot read the fixture's parameter table ($ntensors tensors)"
  exit 1
fi

# synth OUT [edits]: writes a checkpoint with the fixture's tensors (float32 filler values),
# edited by the variables SKIP (a name to leave out), RESHAPE="name|shape|count",
# RETYPE="name|descr|itemsize", EXTRA="name" (one more tensor), DUP (a name written twice),
# REPLACE="name=FILE" (a member's bytes taken from FILE), EXTRA_MEMBERS="NAME=FILE ..." (more
# members as they are, e.g. opt/... arrays).
synth() {
  local out=$1 members=() i=0 name shape count descr isz
  mkdir -p "$tmp/members"
  while IFS='|' read -r name shape count; do
    [ "$name" = "${SKIP:-}" ] && continue
    descr='<f4'
    isz=4
    if [ -n "${RESHAPE:-}" ] && [ "$name" = "${RESHAPE%%|*}" ]; then
      shape=$(echo "$RESHAPE" | cut -d'|' -f2)
      count=$(echo "$RESHAPE" | cut -d'|' -f3)
    fi
    if [ -n "${RETYPE:-}" ] && [ "$name" = "${RETYPE%%|*}" ]; then
      descr=$(echo "$RETYPE" | cut -d'|' -f2)
      isz=$(echo "$RETYPE" | cut -d'|' -f3)
    fi
    i=$((i + 1))
    local f="$tmp/members/$i-${descr//[^a-z0-9]/}-${shape//[^0-9]/_}.npy"
    [ -f "$f" ] || npy "$f" "$descr" "$shape" "$count" "$isz"
    [ -n "${REPLACE:-}" ] && [ "$name" = "${REPLACE%%=*}" ] && f=${REPLACE#*=}
    members+=("params/$name.npy=$f")
    [ "$name" = "${DUP:-}" ] && members+=("params/$name.npy=$f")
  done <"$tmp/table"
  if [ -n "${EXTRA:-}" ]; then
    npy "$tmp/members/extra.npy" '<f4' '(3,)' 3 4
    members+=("params/$EXTRA.npy=$tmp/members/extra.npy")
  fi
  zip_stored "$out" "${members[@]}" ${EXTRA_MEMBERS:-}
}

