#!/usr/bin/env bash
# Tests a bundle where nothing of clippo's is installed: a fresh Debian 12 root (debootstrap
# --variant=minbase) with only PoCL added (pocl-opencl-icd and what it pulls in), the bundle
# copied in and scripts/device-check.sh run there under `env -i` (no LD_LIBRARY_PATH, no
# CLIPPO_*, no OpenCL variables). Needs root, debootstrap and the network for the root's
# packages; /proc, /sys and /dev are bound in (PoCL reads the CPU topology from /sys) and
# unmounted at the end. The results folder is copied out.
#
#   sudo scripts/bundle-root-check.sh [--root DIR] [--bundle DIR] [--out DIR] [--keep]
#
# --root: where the root is made (default /tmp/clippo-root; reused when it has PoCL already; only
#         a root this run made is removed at the end);
# --bundle: a bundle made by scripts/bundle.sh (default: made now into the root);
# --out: where the results go (default ./bundle-root-results; an existing folder is replaced only
#        when it holds earlier results); --keep: leave the root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=/tmp/clippo-root
bundle=""
out=$PWD/bundle-root-results
keep=0
while [ $# -gt 0 ]; do
  case $1 in
  --root) root=$2; shift 2 ;;
  --bundle) bundle=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "bundle-root-check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# The results replace only earlier results (environment.md and summary.md of device-check.sh):
# anything else at --out is refused before any work, never deleted (this runs as root).
if [ -e "$out" ] || [ -L "$out" ]; then
  if [ -L "$out" ] || [ ! -d "$out" ] || [ ! -f "$out/environment.md" ] || [ ! -f "$out/summary.md" ]; then
    echo "bundle-root-check.sh: '$out' exists and is not an earlier results folder: choose another --out or remove it yourself" >&2
    exit 2
  fi
fi
made_root=0
[ -e "$root" ] || made_root=1
# An existing --root is used only when this script made it (its mark, .clippo-bundle-root) or it
# is an empty folder: never the machine's own / or someone's folder.
if [ "$made_root" = 0 ] && [ ! -f "$root/.clippo-bundle-root" ] &&
  { [ ! -d "$root" ] || [ -n "$(ls -A "$root")" ]; }; then
  echo "bundle-root-check.sh: '$root' exists and is not a root made by this script (no .clippo-bundle-root): choose another --root" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bundle-root-check.sh: needs root (chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "bundle-root-check.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
mkdir -p "$root"
touch "$root/.clippo-bundle-root"
if [ ! -f "$root/etc/OpenCL/vendors/pocl.icd" ]; then
  [ -x "$root/bin/bash" ] || debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pocl-opencl-icd"
fi
cleanup() {
  for m in dev sys proc; do umount -R "$root/$m" 2>/dev/null || true; done
  if [ "$keep" = 0 ] && [ "$made_root" = 1 ]; then rm -rf "$root"; fi
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
chmod 1777 "$root/tmp"
rm -rf "$root/opt/clippo-bundle" "$root/opt/results"
mkdir -p "$root/opt"
if [ -n "$bundle" ]; then cp -a "$bundle" "$root/opt/clippo-bundle"; else bash "$here/scripts/bundle.sh" --out "$root/opt/clippo-bundle"; fi
echo "bundle-root-check.sh: packages in the root: $(chroot "$root" dpkg-query -W -f='${Package}\n' | wc -l) (PoCL: $(chroot "$root" dpkg-query -W -f='${Version}' pocl-opencl-icd))"
rc=0
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /bin/bash \
  /opt/clippo-bundle/device-check.sh /opt/clippo-bundle --out /opt/results || rc=$?
rm -rf "$out" # earlier results (checked above), or nothing
mkdir -p "$(dirname "$out")"
cp -r "$root/opt/results" "$out"
rm -rf "$out/kernel-cache" "$out/icd-vendors"
echo "bundle-root-check.sh: results in $out (device-check exit $rc)"
exit "$rc"
