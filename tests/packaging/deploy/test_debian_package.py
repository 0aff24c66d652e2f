"""The Debian packages: made by CPack from this build tree (what `make package` does from its
own), their Depends computed by dpkg-shlibdeps, their files stripped with the debug information
in the -dbgsym packages, installed into a throwaway root where plughost runs, and lintian has no
error to report on them."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

BUILD = Path(os.environ.get("PLUGHOST_BUILD_DIR", ""))
SOURCE = Path(os.environ.get("PLUGHOST_SOURCE_DIR", Path(__file__).resolve().parents[3]))
VERSION = "0.1.0"
# CPack strips and compresses tens of MB: bounds that only catch hangs.
SLOW = 500


def run(argv, **kw):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=SLOW, env=env, **kw)


@unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-shlibdeps"),
                     "cpack and dpkg-dev are needed (scripts/install-deps.sh installs them)")
class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A sanitizer build's packages are no product (their runtime is the build machine's),
        # and CPack takes over its bound to compress their instrumented files: the normal build
        # is the one packaged and checked.
        needed = subprocess.run(["objdump", "-p", str(BUILD / "plughost")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                timeout=60).stdout.decode()
        if re.search(r"NEEDED\s+lib[a-z]*san\.", needed):
            raise unittest.SkipTest("a sanitizer build: the normal build's packages are checked")
        cls.tmp = Path(tempfile.mkdtemp(prefix="plughost-deb-"))
        cls.made = run(["cpack", "-G", "DEB", "-B", str(cls.tmp / "dist"), "--config",
                        str(BUILD / "CPackConfig.cmake")], cwd=BUILD)
        if cls.made.returncode == 0:  # as `make package` does
            cls.made = run([str(SOURCE / "scripts/fix-dbgsym.sh"), str(cls.tmp / "dist")])
        cls.deb = cls.tmp / "dist" / f"plughost_{VERSION}_amd64.deb"
        cls.dev = cls.tmp / "dist" / f"plughost-dev_{VERSION}_amd64.deb"
        cls.dbgsym = cls.tmp / "dist" / f"plughost-dbgsym_{VERSION}_amd64.ddeb"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.made.returncode, 0, self.made.stdout[-4000:])

    def field(self, deb, name):
        return run(["dpkg-deb", "-f", str(deb), name]).stdout.strip()

    def contents(self, deb):
        listing = run(["dpkg-deb", "-c", str(deb)]).stdout.splitlines()
        return {line.split()[5].lstrip(".") for line in listing}

    def test_the_packages_and_their_dependencies(self):
        for deb in (self.deb, self.dev, self.dbgsym):
            self.assertTrue(deb.is_file(), f"{deb.name} was not made: {self.made.stdout[-2000:]}")
        depends = self.field(self.deb, "Depends")
        # From dpkg-shlibdeps: the Debian packages of what the binary and modules link against.
        for package in ("libc6", "libstdc++6", "libyaml-cpp0.7", "libspdlog1.10-fmt9", "libfmt9",
                        "libssl3", "libtomlplusplus3"):
            self.assertRegex(depends, rf"(^|, ){re.escape(package)}( \(|,|$)", depends)
        # Boost is headers only (Boost.DLL on std::filesystem): no Boost library to depend on.
        self.assertNotIn("libboost", depends)
        self.assertNotIn("libboost-filesystem", self.field(self.dev, "Depends"))
        self.assertEqual(self.field(self.deb, "Recommends"), "python3, tzdata")
        self.assertIn(f"plughost (= {VERSION})", self.field(self.dev, "Depends"))
        self.assertEqual(self.field(self.deb, "Section"), "admin")

    def test_what_each_package_installs(self):
        files = self.contents(self.deb)
        for path in ("/usr/bin/plughost", "/usr/share/plughost/defaults.yaml",
                     "/usr/share/man/man1/plughost.1.gz",
                     "/usr/share/bash-completion/completions/plughost",
                     "/usr/share/zsh/vendor-completions/_plughost",
                     "/usr/lib/systemd/system/plughost@.service",
                     "/usr/share/doc/plughost/copyright", "/usr/share/doc/plughost/changelog.gz",
                     "/usr/share/doc/plughost/deployment.md"):
            self.assertIn(path, files)
        modules = [f for f in files if "/plughost/modules/" in f and f.endswith(".so")]
        self.assertEqual(len(modules), 4, modules)  # node, perl, file, syslog (the rest built in)
        self.assertFalse([f for f in files if f.startswith("/usr/include/") or f.endswith(".a")])
        dev = self.contents(self.dev)
        self.assertIn("/usr/include/plughost/launcher.hpp", dev)
        self.assertTrue([f for f in dev if f.endswith("/libplughost.a")])
        self.assertIn("/usr/share/doc/plughost-dev/copyright", dev)
        debug = self.contents(self.dbgsym)
        self.assertTrue([f for f in debug if f.startswith("/usr/lib/debug/.build-id/")
                         and f.endswith(".debug")], debug)
        sums = run(["dpkg-deb", "-I", str(self.dbgsym), "md5sums"]).stdout.split()
        self.assertTrue(sums[1].startswith("usr/lib/debug/.build-id/"), sums[:2])

    def test_installed_in_a_throwaway_root_it_runs(self):
        root = self.tmp / "root"
        extracted = run(["dpkg-deb", "-x", str(self.deb), str(root)])
        self.assertEqual(extracted.returncode, 0, extracted.stdout)
        binary = root / "usr/bin/plughost"
        unit = (root / "usr/lib/systemd/system/plughost@.service").read_text()
        self.assertIn("\nExecStart=/usr/bin/plughost run\n", unit, "the package's own plughost")
        scripts = run(["dpkg-deb", "-I", str(self.deb), "prerm"]).stdout
        self.assertIn("systemctl stop 'plughost@*.service'", scripts, "removal stops instances")
        described = run(["file", "-L", str(binary)]).stdout
        self.assertIn("stripped", described)
        self.assertNotIn("not stripped", described)
        version = run([str(binary), "--version"])
        self.assertEqual(version.stdout.strip(), f"plughost {VERSION}")
        modules = run([str(binary), "modules"])
        self.assertEqual(modules.returncode, 0, modules.stdout)
        for name in ("python", "bash", "node", "perl", "stdout", "jsonl", "file", "syslog"):
            self.assertRegex(modules.stdout, rf"loaded\s+\S+\s+{name}\b")
        self.assertIn(str(root / "usr/lib"), modules.stdout, "its modules, not the build's")
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        (plugins / "all_hello.sh").write_text("echo hello from the package\n")
        ran = run([str(binary), "run", "--location", str(plugins), "--socket", "none"])
        self.assertEqual(ran.returncode, 0, ran.stdout)
        self.assertIn("hello from the package", ran.stdout)
        # The man page as lintian reads it: groff's warnings on stderr are its errors.
        page = subprocess.run(["man", "-l", "--warnings", "-E", "UTF-8", "-Tutf8", "-Z",
                               str(root / "usr/share/man/man1/plughost.1.gz")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=SLOW, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                                 "MANWIDTH": "80"})
        self.assertEqual(page.returncode, 0, page.stderr)
        self.assertEqual(page.stderr, "")
        # Checked against --help: every command and every option of each is in the page.
        text = subprocess.run(["man", "-l", str(root / "usr/share/man/man1/plughost.1.gz")],
                              stdout=subprocess.PIPE, text=True, timeout=SLOW,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MANWIDTH": "200",
                                   "MAN_KEEP_FORMATTING": "0"}).stdout
        text = re.sub(r".\x08", "", text).replace("\u2010", "-")
        commands = re.findall(r"^  (\w+) ", run([str(binary), "--help"]).stdout, re.M)
        self.assertIn("run", commands)
        for command in commands:
            self.assertIn(f"plughost {command}", text)
            shown = run([str(binary), command, "--help"]).stdout
            for option in set(re.findall(r"^\s+(?:-\w, ?)?(--[\w-]+)", shown, re.M)):
                self.assertIn(option, text, f"{command} {option}")

    @unittest.skipUnless(shutil.which("lintian"), "lintian is not installed")
    def test_lintian_reports_no_error(self):
        for deb in (self.deb, self.dev, self.dbgsym):
            with self.subTest(package=deb.name):
                result = run(["lintian", "--tag-display-limit", "0", str(deb)])
                errors = [l for l in result.stdout.splitlines() if l.startswith("E:")]
                self.assertEqual(errors, [], result.stdout)


if __name__ == "__main__":
    unittest.main()
