"""glibc_floor.py on files built here: what it lowers, and what it refuses (leaving them as they
were). Whether the lowered files run on an older glibc is test_older_system's part."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402
from plughost_lmcache import glibc_floor  # noqa: E402

COMPAT_SOURCE = lib.SOURCE_DIR / "packaging" / "portable" / "glibc_compat.c"


@unittest.skipIf(shutil.which("cc") is None or shutil.which("patchelf") is None,
                 "needs cc and patchelf (scripts/install-deps.sh)")
class GlibcFloorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="plughost-floor-"))
        cls.compat = cls.tmp / "libplughost-glibc-compat.so"
        cls.build(cls.compat, COMPAT_SOURCE.read_text(), "-l:libdl.so.2", "-l:libpthread.so.0")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def build(cls, out, source, *libraries):
        src = out.with_suffix(".c")
        src.write_text(textwrap.dedent(source))
        built = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(src),
                                "-Wl,--no-as-needed", *libraries],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        assert built.returncode == 0, built.stdout.decode()
        return out

    def floor(self, *files):
        return subprocess.run([sys.executable, "-m", "plughost_lmcache.glibc_floor", "--compat",
                               str(self.compat), *map(str, files)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=lib.python_env(), timeout=120)

    def newest(self, path):
        return glibc_floor.newest_glibc(str(path))

    def test_a_file_is_lowered_and_needs_nothing_past_the_floor(self):
        module = self.build(self.tmp / "threads.so", """\
            #include <pthread.h>
            #include <sys/stat.h>
            static void* work(void* p) { return p; }
            int start(const char* path) {
              pthread_t t;
              struct stat st;
              if (pthread_create(&t, 0, work, 0) != 0) return -1;
              pthread_join(t, 0);
              return stat(path, &st);
            }
            """)
        self.assertGreater(self.newest(module), (2, 28, 0))
        done = self.floor(module)
        self.assertEqual(done.returncode, 0, done.stderr.decode())
        self.assertLessEqual(self.newest(module), (2, 28, 0))
        dump = subprocess.run(["objdump", "-T", str(module)], stdout=subprocess.PIPE, timeout=60)
        text = dump.stdout.decode()
        self.assertNotIn("GLIBC_2.34", text)
        self.assertNotIn("GLIBC_2.33", text)

    def test_a_link_lowers_the_file_it_names(self):
        module = self.build(self.tmp / "real.so", """\
            #include <sys/stat.h>
            int look(const char* p) { struct stat st; return stat(p, &st); }
            """)
        link = self.tmp / "link.so"
        link.symlink_to(module.name)
        done = self.floor(link)
        self.assertEqual(done.returncode, 0, done.stderr.decode())
        self.assertTrue(link.is_symlink())
        self.assertLessEqual(self.newest(module), (2, 28, 0))

    def assert_refused_unchanged(self, path, *expected):
        before = path.read_bytes()
        done = self.floor(path)
        self.assertEqual(done.returncode, 1, done.stdout.decode())
        lines = done.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        for text in expected:
            self.assertIn(text, lines[0])
        self.assertEqual(path.read_bytes(), before)

    def test_a_symbol_an_older_glibc_kept_in_librt_needs_librt_loaded(self):
        module = self.build(self.tmp / "shm.so", """\
            #include <fcntl.h>
            #include <sys/mman.h>
            int open_it(void) { return shm_open("/x", O_RDONLY, 0); }
            """)
        self.assert_refused_unchanged(module, "shm_open", "librt.so.1",
                                      "patchelf --add-needed librt.so.1")
        subprocess.run(["patchelf", "--add-needed", "librt.so.1", str(module)], check=True)
        done = self.floor(module)
        self.assertEqual(done.returncode, 0, done.stderr.decode())

    def test_a_symbol_whose_base_version_is_an_older_abi_is_refused(self):
        # timer_create@GLIBC_2.2.5 is the old ABI; 2.28's default was 2.3.3: an unversioned
        # reference would take the wrong one.
        module = self.build(self.tmp / "timer.so", """\
            #include <signal.h>
            #include <time.h>
            int make(void) { timer_t t; return timer_create(CLOCK_MONOTONIC, 0, &t); }
            """)
        self.assert_refused_unchanged(module, "timer_create@GLIBC_2.34",
                                      "compatibility library does not provide")

    def test_what_is_not_a_whole_elf_file_is_said_in_one_line(self):
        for name, data in (("magic", b"\x7fELF"), ("cut", Path("/bin/true").read_bytes()[:100]),
                           ("text", b"not an ELF file\n")):
            with self.subTest(name):
                path = self.tmp / name
                path.write_bytes(data)
                self.assert_refused_unchanged(path, str(path))


if __name__ == "__main__":
    unittest.main()
