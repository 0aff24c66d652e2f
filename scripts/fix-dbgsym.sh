#!/usr/bin/env bash
# Mends the -dbgsym packages CPack makes (fix-dbgsym.sh DIST_DIR): CMake 3.25's DEB generator
# writes their md5sums with its staging paths (dpkg --verify would then check nothing) and gives
# them no /usr/share/doc. Each gets md5sums of its own files and, as Debian's dbgsym packages
# have, a doc folder that is a link to its package's.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIST_DIR" >&2; exit 2; }
for ddeb in "$1"/*-dbgsym_*.ddeb; do
  [ -e "$ddeb" ] || continue
  work=$(mktemp -d "${TMPDIR:-/tmp}/plughost-dbgsym.XXXXXX")
  dpkg-deb -R "$ddeb" "$work/p"
  package=$(sed -n 's/^Package: //p' "$work/p/DEBIAN/control")
  mkdir -p "$work/p/usr/share/doc"
  ln -s "${package%-dbgsym}" "$work/p/usr/share/doc/$package"
  (cd "$work/p" && find usr -type f -printf '%P\n' | LC_ALL=C sort |
    sed 's|^|usr/|' | xargs -r md5sum) > "$work/p/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz -b "$work/p" "$ddeb" > /dev/null
  rm -rf "$work"
done
