"""Lowers the glibc an ELF file asks for to a floor version (2.28 by default), in place.

A program linked on a newer system asks for the newest version of each glibc symbol it uses
(`pthread_create@GLIBC_2.34`, `stat@GLIBC_2.33`), and the dynamic loader of an older glibc then
refuses the whole file. This tool rewrites only the version requirements: each reference to a
glibc version newer than the floor becomes unversioned (it binds to the symbol's default version
wherever it runs: `pthread_create@GLIBC_2.2.5` in glibc 2.28's libpthread, `@GLIBC_2.34` in
glibc 2.36's libc), and each such version requirement becomes `GLIBC_2.2.5`, which every glibc
has. A symbol the floor's glibc did not have at all (`stat`, `arc4random`) must then come from a
library the process loads: plughost's wheel ships `libplughost-glibc-compat.so` for them, and
the tool refuses a file that needs one that library does not provide.

    python3 -m plughost_lmcache.glibc_floor [--floor 2.28] [--compat LIB] FILE...

It is how plughost's wheel runs on glibc 2.28 and newer, and how a team makes its own module
for that wheel (docs/modules.md). Standard library only; x86_64 (ELF64, little-endian) only.
"""

import argparse
import os
import re
import struct
import sys

SHT_DYNAMIC = 6
SHT_DYNSYM = 11
DT_NEEDED = 1
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_NDX_GLOBAL = 1
BASE_VERSION = "GLIBC_2.2.5"  # x86_64's first glibc version: every glibc library defines it
GLIBC_LIBRARIES = (
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
    "libresolv.so.2", "libutil.so.1", "ld-linux-x86-64.so.2",
)
_VERSION = re.compile(r"^GLIBC_2\.(\d+)(?:\.(\d+))?$")
# What glibc before 2.34 kept in libraries of their own, which a process loads only when a file
# names them (glibc 2.34 moved them into libc, where this machine's glibc shows them). libpthread
# and libdl are loaded by plughost's compatibility library, and libm by the C++ runtime.
_SEPARATE_BEFORE_2_34 = (
    (re.compile(r"^(shm_|mq_|aio_|lio_listio|timer_)"), "librt.so.1"),
    (re.compile(r"^(openpty|forkpty|login|login_tty|logout|logwtmp)$"), "libutil.so.1"),
    (re.compile(r"^(getaddrinfo_a|gai_cancel|gai_error|gai_suspend)$"), "libanl.so.1"),
)


class FloorError(Exception):
    """A file this tool cannot lower, with the reason in words."""


def glibc_version(name):
    """(2, minor, patch) of a `GLIBC_2.N[.M]` version name, None for other names."""
    m = _VERSION.match(name)
    if not m:
        return None
    return (2, int(m.group(1)), int(m.group(2) or 0))


def parse_floor(text):
    m = re.match(r"^2\.(\d+)$", text)
    if not m:
        raise argparse.ArgumentTypeError("expected a glibc version such as 2.28, got %r" % text)
    return (2, int(m.group(1)), 0)


def elf_hash(name):
    """The System V ELF hash, which version entries carry beside their names."""
    h = 0
    for c in name.encode():
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


class ElfFile:
    """The dynamic symbol table and symbol versions of an ELF64 little-endian file."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = bytearray(f.read())
        try:
            self._read_headers()
        except (struct.error, IndexError, ValueError) as e:
            raise FloorError("%s: not a complete ELF file (it ends before its headers do, or "
                             "they point past its end)" % path) from e

    def _read_headers(self):
        path = self.path
        d = self.data
        if d[:4] != b"\x7fELF":
            raise FloorError("%s: not an ELF file" % path)
        if d[4] != 2 or d[5] != 1:
            raise FloorError("%s: not a 64-bit little-endian ELF file" % path)
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", d, 0x3A)
        if shoff == 0 or shnum == 0:
            raise FloorError("%s: has no section headers" % path)
        self.sections = []
        for i in range(shnum):
            name, type_, _flags, _addr, offset, size, link, _info, _align, entsize = \
                struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
            self.sections.append((type_, offset, size, link, entsize))
        self.dynamic = self._section(SHT_DYNAMIC)
        self.dynsym = self._section(SHT_DYNSYM)
        self.versym = self._section(SHT_GNU_VERSYM)
        self.verneed = self._section(SHT_GNU_VERNEED)
        self.verdef = self._section(SHT_GNU_VERDEF)
        if self.dynsym is None:
            raise FloorError("%s: has no dynamic symbol table" % path)
        _t, self.dynstr_offset, self.dynstr_size, _l, _e = self.sections[self.dynsym[3]]

    def _section(self, type_):
        for s in self.sections:
            if s[0] == type_:
                return s
        return None

    def string(self, offset):
        start = self.dynstr_offset + offset
        end = self.data.index(b"\0", start)
        return self.data[start:end].decode("utf-8", "replace")

    def string_offset(self, text):
        """The offset in the dynamic string table of a string that starts there, or None."""
        table = bytes(self.data[self.dynstr_offset:self.dynstr_offset + self.dynstr_size])
        needle = text.encode() + b"\0"
        at = table.find(needle)
        while at != -1:
            if at == 0 or table[at - 1] == 0:
                return at
            at = table.find(needle, at + 1)
        return None

    def needed(self):
        """The libraries the file names (DT_NEEDED)."""
        if self.dynamic is None:
            return set()
        _t, offset, size, _link, _e = self.dynamic
        names = set()
        for at in range(offset, offset + size - 15, 16):
            tag, value = struct.unpack_from("<qQ", self.data, at)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                names.add(self.string(value))
        return names

    def symbols(self):
        """(index, name, defined) for each dynamic symbol."""
        _t, offset, size, _l, entsize = self.dynsym
        for i in range(size // (entsize or 24)):
            name, _info, _other, shndx = struct.unpack_from("<IBBH", self.data, offset + i * 24)
            yield i, self.string(name), shndx != 0

    def symbol_version_index(self, i):
        return struct.unpack_from("<H", self.data, self.versym[1] + 2 * i)[0]

    def set_symbol_version_index(self, i, value):
        struct.pack_into("<H", self.data, self.versym[1] + 2 * i, value)

    def needed_versions(self):
        """(aux offset, version index, library, version name) of each required version."""
        if self.verneed is None:
            return
        d = self.data
        entry = self.verneed[1]
        while True:
            _v, count, file_, aux, next_ = struct.unpack_from("<HHIII", d, entry)
            at = entry + aux
            for _ in range(count):
                _hash, _flags, other, name, anext = struct.unpack_from("<IHHII", d, at)
                yield at, other, self.string(file_), self.string(name)
                if anext == 0:
                    break
                at += anext
            if next_ == 0:
                break
            entry += next_

    def defined_versions(self):
        """{version index: version name} of the versions this file defines."""
        found = {}
        if self.verdef is None:
            return found
        d = self.data
        entry = self.verdef[1]
        while True:
            _v, _flags, ndx, _cnt, _hash, aux, next_ = struct.unpack_from("<HHHHIII", d, entry)
            name, = struct.unpack_from("<I", d, entry + aux)
            found[ndx] = self.string(name)
            if next_ == 0:
                break
            entry += next_
        return found

    def save(self):
        # Written beside and renamed over: a reader never sees half a file, the mode is kept.
        temp = self.path + ".floor-tmp"
        with open(temp, "wb") as f:
            f.write(self.data)
        os.chmod(temp, os.stat(self.path).st_mode & 0o7777)
        os.replace(temp, self.path)


def glibc_definitions(library_dir):
    """{symbol: set of glibc versions} of what this machine's glibc defines."""
    found = {}
    for library in GLIBC_LIBRARIES:
        path = os.path.join(library_dir, library)
        if not os.path.exists(path):
            continue
        elf = ElfFile(path)
        versions = elf.defined_versions()
        for i, name, defined in elf.symbols():
            if not defined or elf.versym is None:
                continue
            version = glibc_version(versions.get(elf.symbol_version_index(i) & 0x7FFF, ""))
            if version is not None:
                found.setdefault(name, set()).add(version)
    return found


def glibc_provides(definitions, floor):
    """A test of whether an unversioned reference to a name binds to the right glibc symbol both
    on the floor's glibc and on this machine's.

    The dynamic loader binds an unversioned reference to a symbol's base version (GLIBC_2.2.5),
    or to its only version, and passes over a symbol defined at several newer ones. So it binds
    right where the floor's glibc had the name at the base version only: both glibcs then take
    that one (glibc never removes a version, so those this glibc defines no newer than the floor
    are those the floor's had). A name the floor's glibc had at another version (a newer ABI:
    `timer_create@GLIBC_2.3.3` beside the base's old one), or did not have, is the compatibility
    library's to provide."""
    base = {(2, 2, 5)}

    def provides(name):
        old = {v for v in definitions.get(name, set()) if v <= floor}
        return old == base
    return provides


def separate_library(name):
    """The library of its own that had `name` before glibc 2.34, or None."""
    for pattern, library in _SEPARATE_BEFORE_2_34:
        if pattern.match(name):
            return library
    return None


def exported_names(path):
    return {name for _i, name, defined in ElfFile(path).symbols() if defined}


def lower(path, floor, provided, loaded=frozenset()):
    """Lowers `path` in place to `floor`; returns the symbols whose version it cleared.

    `provided(name)` says whether a symbol is found where the file will run (the floor's glibc
    or the compatibility library); `loaded` names the libraries the process loads besides the
    file's own. Raises FloorError, changing nothing, for a file it cannot lower."""
    elf = ElfFile(path)
    libraries = elf.needed() | set(loaded)
    unloaded = []
    newer = {}  # version index -> (library, version name) of each requirement past the floor
    for at, other, library, name in elf.needed_versions():
        if name == "GLIBC_ABI_DT_RELR":
            raise FloorError("%s: uses packed relative relocations (GLIBC_ABI_DT_RELR), which "
                             "glibc before 2.36 cannot load: link without -z pack-relative-relocs"
                             % path)
        version = glibc_version(name)
        if version is not None and version > floor:
            newer[other] = (library, name, at)
    cleared = []
    missing = []
    if newer and elf.versym is None:
        raise FloorError("%s: has version requirements but no symbol version table" % path)
    for i, name, defined in (elf.symbols() if newer else ()):
        index = elf.symbol_version_index(i) & 0x7FFF
        if defined or index not in newer:
            continue
        library, version, _at = newer[index]
        if not provided(name):
            missing.append("%s@%s" % (name, version))
        elif floor < (2, 34, 0):
            separate = separate_library(name)
            if separate is not None and separate not in libraries:
                unloaded.append((name, separate))
        cleared.append((name, version))
        elf.set_symbol_version_index(i, VER_NDX_GLOBAL)
    if missing:
        raise FloorError("%s: needs %s, which glibc %d.%d does not have (at the version an "
                         "unversioned reference would take) and the compatibility library does "
                         "not provide" % (path, ", ".join(sorted(missing)), floor[0], floor[1]))
    if unloaded:
        name, library = sorted(unloaded)[0]
        raise FloorError("%s: needs %s, which glibc %d.%d has in %s, a library the file does not "
                         "load: add it with `patchelf --add-needed %s %s`, then lower it again"
                         % (path, ", ".join(n for n, _l in sorted(unloaded)), floor[0],
                            floor[1], library, library, path))
    if newer:
        base = elf.string_offset(BASE_VERSION)
        if base is None:
            raise FloorError("%s: its string table has no %s to require instead" %
                             (path, BASE_VERSION))
        for _library, _name, at in newer.values():
            struct.pack_into("<IHxxI", elf.data, at, elf_hash(BASE_VERSION), 0, base)
        elf.save()
    return cleared


def newest_glibc(path):
    """The newest GLIBC_2.x version `path` still requires, or None."""
    newest = None
    for _at, _other, _library, name in ElfFile(path).needed_versions():
        version = glibc_version(name)
        if version is not None and (newest is None or version > newest):
            newest = version
    return newest


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m plughost_lmcache.glibc_floor",
        description="Lower the glibc version ELF files require, in place (see the module's "
                    "documentation).")
    parser.add_argument("--floor", type=parse_floor, default=parse_floor("2.28"),
                        help="the oldest glibc the files must load on (default 2.28)")
    parser.add_argument("--compat", action="append", default=[],
                        help="a library the process loads that provides symbols the floor's "
                             "glibc lacks (plughost's lib/libplughost-glibc-compat.so)")
    parser.add_argument("--glibc-dir", default="/lib/x86_64-linux-gnu",
                        help="where this machine's glibc libraries are")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each symbol whose version was cleared")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        definitions = glibc_definitions(args.glibc_dir)
        if not definitions:
            raise FloorError("found no glibc libraries in %s" % args.glibc_dir)
        in_glibc = glibc_provides(definitions, args.floor)
        compat = set()
        # Always loaded: libc and the dynamic loader; with the compatibility library, what it
        # loads (libpthread, libdl).
        loaded = {"libc.so.6", "ld-linux-x86-64.so.2"}
        for library in args.compat:
            compat |= exported_names(library)
            loaded |= ElfFile(library).needed()
        # A link is followed: the file that is loaded is the one lowered (once).
        files = []
        for path in args.files:
            real = os.path.realpath(path)
            if real not in files:
                files.append(real)
        for path in files:
            cleared = lower(path, args.floor, lambda name: name in compat or in_glibc(name),
                            loaded)
            if args.verbose:
                for name, version in cleared:
                    print("%s: %s@%s -> %s" % (path, name, version, name))
    except (FloorError, OSError) as e:
        print("glibc_floor: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
