#!/usr/bin/env bash
# Makes (once) or reuses a Debian 11 (bullseye: glibc 2.31, Python 3.9) root in which the wheel
# and the tarball are tried, and prints its path. older-root.sh [CACHE_DIR]
#
# The root is kept in CACHE_DIR (default: $XDG_CACHE_HOME/plughost or ~/.cache/plughost), so a
# machine pays the download (about 2.5 minutes, 260 MB) once; a root that a killed run left half
# made has no .complete mark and is made again. Runs as root (debootstrap, chroot); exit 77
# (skipped) where that or debootstrap is missing, 1 where Debian's registry cannot be reached.
set -euo pipefail

cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/plughost}
root="$cache/bullseye-root"
skip() {
  echo "older-root.sh: $*" >&2
  exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and chroot)"
command -v debootstrap > /dev/null 2>&1 || skip "debootstrap is missing (scripts/install-deps.sh test installs it)"
mkdir -p "$cache"
# One maker at a time: a second test waits for the first's root instead of making its own.
exec 9> "$cache/bullseye-root.lock"
flock 9
if [ ! -f "$root/.complete" ]; then
  made=""
  for attempt in 1 2; do  # a second try for a download that broke off
    rm -rf "$root" "$root.part"
    if debootstrap --variant=minbase --include=python3,python3-venv bullseye "$root.part" \
      http://deb.debian.org/debian > "$cache/bullseye-root.log" 2>&1; then
      made=yes
      break
    fi
  done
  if [ -z "$made" ]; then
    tail -n 5 "$cache/bullseye-root.log" >&2
    rm -rf "$root.part"
    echo "older-root.sh: debootstrap could not make a Debian 11 root (log: $cache/bullseye-root.log)" >&2
    exit 1
  fi
  mv "$root.part" "$root"
  touch "$root/.complete"
fi
echo "$root"
