#!/usr/bin/env bash
# Builds the plughost wheel (the executable, its modules and the libraries they need, plus the
# plughost_lmcache drop-in) from a built build tree, and the portable tarball of the same files:
# build-wheel.sh BUILD_DIR OUT_DIR. Both run on glibc 2.28 and newer. Works in a temporary
# staging folder; the source tree is only read. Prints the tarball's path, then the wheel's as
# the last line.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
fail() {
  echo "build-wheel.sh: $*" >&2
  exit 1
}

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -d "$1" ] || fail "build folder $1 does not exist (build first: make build)"
build_dir=$(cd "$1" && pwd)
mkdir -p "$2"
out_dir=$(cd "$2" && pwd)
# Debian's python: python3-build, -setuptools and -wheel live in its dist-packages (no network).
python=/usr/bin/python3

[ "$(uname -m)" = x86_64 ] || fail "only x86_64 wheels are supported (this is $(uname -m))"
for tool in cmake patchelf ldd objdump cc strip tar gzip "$python"; do
  command -v "$tool" > /dev/null 2>&1 ||
    fail "$tool is missing (scripts/install-deps.sh installs it)"
done
"$python" -c 'import build, setuptools, wheel' 2> /dev/null ||
  fail "$python cannot import build, setuptools and wheel (scripts/install-deps.sh installs them)"

# A sanitizer build would bundle its runtime, which needs the build machine's glibc: no product.
if sanitizer=$(objdump -p "$build_dir/plughost" 2> /dev/null |
  grep -oE 'NEEDED +lib[a-z]*san\.' | awk '{print $2}' | tr -d .) && [ -n "$sanitizer" ]; then
  fail "$build_dir is a sanitizer build ($sanitizer): build the wheel from a normal build (make wheel)"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/plughost-wheel.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -a "$source_dir/packaging/python/." "$stage/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$stage/build" "$stage"/*.egg-info "$stage/plughost_lmcache/_root"

# The install tree, as `make install` lays it out: the executable finds its modules and defaults
# relative to itself (<bin>/../lib/plughost/modules, <bin>/../share/plughost).
root="$stage/plughost_lmcache/_root"
# The Runtime component only: the headers, archive and CMake files are for building.
cmake --install "$build_dir" --prefix "$root" --strip --component Runtime > /dev/null
[ -x "$root/bin/plughost" ] || fail "cmake --install did not produce bin/plughost"
rm -rf "$root/lib/systemd"  # a pip install is no system service
# A wheel is a zip, which keeps no symbolic links: libplughost travels once, under its SONAME.
real=$(find "$root/lib" -maxdepth 1 -type f -name 'libplughost.so.*' | head -n 1)
[ -n "$real" ] || fail "cmake --install did not produce lib/libplughost.so.*"
soname=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2 }')
[ -n "$soname" ] || fail "cannot read the SONAME of $real"
if [ "$real" != "$root/lib/$soname" ]; then
  rm -f "$root/lib/$soname"
  mv "$real" "$root/lib/$soname"
fi

# Every library the executable and its modules need, except glibc's own (the manylinux rule:
# those come from the system, everything else travels with the wheel).
glibc='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|'
glibc+='librt\.so\.1|libresolv\.so\.2|ld-linux-x86-64\.so\.2)$'
modules=()
for module in "$root"/lib/plughost/modules/*.so; do
  [ -e "$module" ] && modules+=("$module")
done
bundled=()
sources=()  # where each bundled library was copied from
for elf in "$root/bin/plughost" "${modules[@]}"; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $name =~ $glibc ]] && continue
    [ "$path" != "not" ] || fail "$elf needs $name, which ldd cannot find"
    if [ ! -e "$root/lib/$name" ]; then
      cp -L "$path" "$root/lib/$name"
      chmod 0755 "$root/lib/$name"
      bundled+=("$root/lib/$name")
      sources+=("$path")
    fi
  done < <(ldd "$elf")
done

# Each bundled library's licence, from the Debian package it came from (NOTICE says where).
for source_path in "${sources[@]}"; do
  # dpkg knows a file by the path its package gave it: /lib or /usr/lib (merged /usr), the link
  # or its target.
  real_path=$(readlink -f "$source_path")
  package=""
  for candidate in "$source_path" "$real_path" "${source_path#/usr}" "/usr$source_path" \
    "${real_path#/usr}" "/usr$real_path"; do
    package=$(dpkg -S "$candidate" 2> /dev/null | head -n 1 | cut -d: -f1 || true)
    [ -z "$package" ] || break
  done
  [ -n "$package" ] || fail "cannot tell which Debian package $source_path comes from"
  [ -f "/usr/share/doc/$package/copyright" ] || fail "/usr/share/doc/$package/copyright is missing"
  mkdir -p "$root/share/doc/bundled/$package"
  cp "/usr/share/doc/$package/copyright" "$root/share/doc/bundled/$package/copyright"
done

patchelf --set-rpath '$ORIGIN/../lib' "$root/bin/plughost"
for module in "${modules[@]}"; do
  patchelf --set-rpath '$ORIGIN/../..' "$module"
done
for lib in "$root/lib/$soname" "${bundled[@]}"; do
  patchelf --set-rpath '$ORIGIN' "$lib"
done

# glibc 2.28 and newer (docs/deployment.md, "Where the wheel runs"): the tree was linked against
# this machine's glibc; glibc_floor.py lowers each file's version requirements to 2.28, and
# libplughost-glibc-compat.so, which libplughost loads, provides what glibc 2.28
# lacks (stat as a function, arc4random, ...). The floor tool refuses a file that needs anything
# else.
floor_minor=28
compat=libplughost-glibc-compat.so
cc -shared -fPIC -O2 -Wall -Wextra -Werror -Wl,-soname,$compat -o "$root/lib/$compat" \
  "$source_dir/packaging/portable/glibc_compat.c" -Wl,--no-as-needed -l:libdl.so.2 \
  -l:libpthread.so.0 || fail "cannot build $compat (a C compiler: build-essential)"
strip --strip-unneeded "$root/lib/$compat"
# libplughost names it (the executable loads libplughost, so it is in the program's global
# scope from the start); the executable itself does not, because patchelf puts a new entry
# first, and a sanitizer's runtime must stay the first library a program loads.
patchelf --add-needed "$compat" "$root/lib/$soname"
elves=()
while IFS= read -r -d '' file; do
  [ "$(head -c 4 "$file" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] && elves+=("$file")
done < <(find "$root" -type f -print0)
PYTHONPATH="$source_dir/packaging/python" "$python" -m plughost_lmcache.glibc_floor \
  --floor "2.$floor_minor" --compat "$root/lib/$compat" "${elves[@]}" ||
  fail "cannot lower the glibc the files need to 2.$floor_minor"

# The platform tag is the floor, checked as auditwheel would: no file needs a newer glibc
# symbol version.
for file in "${elves[@]}"; do
  needed=$(objdump -T "$file" | grep -o 'GLIBC_2\.[0-9]\+' | sed 's/GLIBC_2\.//' |
    sort -n | tail -n 1 || true)
  if [ -n "$needed" ] && [ "$needed" -gt "$floor_minor" ]; then
    fail "${file#"$root"/} still needs GLIBC_2.$needed after lowering to 2.$floor_minor"
  fi
done
plat="manylinux_2_${floor_minor}_x86_64"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$stage/pyproject.toml")
wheel="$out_dir/plughost-$version-py3-none-$plat.whl"
rm -f "$wheel"
# build's own chatter goes to stderr: the wheel's path stays the last line on stdout.
(cd "$stage" && PLUGHOST_WHEEL_PLAT="$plat" "$python" -m build --wheel --no-isolation \
  --outdir "$out_dir" "$stage") >&2
[ -f "$wheel" ] || fail "python -m build did not produce $wheel"

# The same tree as a tarball, for hosts and containers without Python: plughost-VERSION/ with
# bin/, lib/ and share/ (docs/deployment.md, "The portable tarball").
tarball="$out_dir/plughost-$version-linux-x86_64.tar.gz"
tree="$stage/tarball/plughost-$version"
mkdir -p "$tree"
cp -a "$root/." "$tree/"
cp "$source_dir/LICENSE" "$source_dir/NOTICE" "$tree/"
# Files sorted, owned by root, dated by the last commit's time or 0: the same tree, the same
# bytes.
mtime=${SOURCE_DATE_EPOCH:-$(git -C "$source_dir" log -1 --format=%ct 2> /dev/null || echo 0)}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -C "$stage/tarball" \
  -cf - "plughost-$version" | gzip -n -9 > "$tarball.part"
mv "$tarball.part" "$tarball"
echo "$tarball"
echo "$wheel"
