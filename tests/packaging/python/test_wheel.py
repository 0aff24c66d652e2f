"""The wheel: built by scripts/build-wheel.sh, self-contained beyond glibc, works in a venv."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import unittest
import zipfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402

DEBIAN_PYTHON = "/usr/bin/python3"
GLIBC = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
         "librt.so.1", "libresolv.so.2", "ld-linux-x86-64.so.2"}
# Building and installing take seconds; these bounds only catch hangs.
SLOW = 240


def _missing_build_tools():
    if shutil.which("patchelf") is None:
        return "patchelf is not installed (scripts/install-deps.sh installs it)"
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return f"{DEBIAN_PYTHON} does not exist"
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import build, setuptools, wheel"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        return "Debian's python3-build/-setuptools/-wheel are not installed " \
               "(scripts/install-deps.sh installs them)"
    return None


def _extract_with_modes(wheel, target):
    # zipfile drops permission bits; the wheel's are part of what is checked.
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, target))
            mode = (info.external_attr >> 16) & 0o7777
            if mode and not info.is_dir():
                path.chmod(mode)


def _is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PLUGHOST_BINARY", "PYTHONPATH", "LD_LIBRARY_PATH", "PLUGHOST_LMCACHE",
                        "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INDEX"] = "1"
    env.update(extra)
    return env


@unittest.skipIf(_missing_build_tools(), _missing_build_tools())
class WheelTest(lib.PluginTestCase):
    @classmethod
    def setUpClass(cls):
        if lib.sanitizer_build():
            raise unittest.SkipTest(f"a {lib.sanitizer_build()} build: build-wheel.sh refuses it")
        # One build for every check (the build is the slow part); removed in tearDownClass.
        cls.work = Path(tempfile.mkdtemp(prefix="plughost-wheel-test-"))
        built = subprocess.run(
            [str(lib.SOURCE_DIR / "scripts" / "build-wheel.sh"), str(lib.BUILD_DIR),
             str(cls.work / "dist")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=SLOW, env=_clean_env())
        cls.build_output = built
        lines = built.stdout.decode().strip().splitlines()
        cls.wheel = Path(lines[-1]) if built.returncode == 0 and lines else None
        cls.tarball = Path(lines[-2]) if built.returncode == 0 and len(lines) > 1 else None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(
            self.wheel, "build-wheel.sh failed:\n" + self.build_output.stderr.decode()[-4000:])

    def test_wheel_name_and_contents(self):
        self.assertTrue(self.wheel.is_file())
        self.assertTrue(self.wheel.is_relative_to(self.work / "dist"))
        # glibc 2.28 and newer (RHEL 8, Ubuntu 20.04, vLLM's Ubuntu 22.04 images).
        match = re.fullmatch(r"plughost-0\.1\.0-py3-none-manylinux_2_(28)_x86_64\.whl",
                             self.wheel.name)
        self.assertIsNotNone(match, self.wheel.name)
        with zipfile.ZipFile(self.wheel) as archive:
            infos = {i.filename: i for i in archive.infolist()}
            wheel_meta = archive.read("plughost-0.1.0.dist-info/WHEEL").decode()
            entry_points = archive.read("plughost-0.1.0.dist-info/entry_points.txt").decode()
        self.assertIn("Root-Is-Purelib: false", wheel_meta)
        self.assertIn(f"Tag: py3-none-manylinux_2_{match.group(1)}_x86_64", wheel_meta)
        self.assertRegex(entry_points, r"plughost\s*=\s*plughost_lmcache\._cli:main")
        for name in ("plughost_lmcache.pth", "plughost_lmcache/__init__.py",
                     "plughost_lmcache/_root/bin/plughost",
                     "plughost_lmcache/_root/share/plughost/defaults.yaml"):
            self.assertIn(name, infos)
        self.assertTrue((infos["plughost_lmcache/_root/bin/plughost"].external_attr >> 16)
                        & stat.S_IXUSR)
        for module in ("plughost-runner-node.so", "plughost-runner-perl.so",
                       "plughost-sink-file.so", "plughost-sink-syslog.so"):
            self.assertIn(f"plughost_lmcache/_root/lib/plughost/modules/{module}", infos)
        # What a wheel does not need was left out.
        self.assertFalse([n for n in infos if "/_root/include/" in n or "/_root/lib/cmake/" in n
                          or n.endswith(".a") or "/_root/lib/systemd/" in n])
        # Every library it bundles comes with the licence of the Debian package it came from.
        bundled = [n for n in infos if re.fullmatch(r"plughost_lmcache/_root/lib/lib[^/]+\.so[.\d]*", n)
                   and "libplughost" not in n]
        self.assertGreaterEqual(len(bundled), 5, bundled)
        licences = [n for n in infos
                    if re.fullmatch(r"plughost_lmcache/_root/share/doc/bundled/[^/]+/copyright", n)]
        self.assertGreaterEqual(len(licences), 5, licences)
        self.assertIn("plughost_lmcache/_root/share/doc/plughost/LICENSE", infos)

    def test_no_file_needs_a_glibc_symbol_version_past_2_28(self):
        # As auditwheel checks a manylinux_2_28 wheel: every symbol version each ELF file asks
        # of glibc, from its version requirements (objdump -p) and its symbols (objdump -T).
        extracted = self.tmp / "extracted"
        _extract_with_modes(self.wheel, extracted)
        elves = [p for p in extracted.rglob("*") if p.is_file() and _is_elf(p)]
        names = {p.name for p in elves}
        self.assertIn("libplughost-glibc-compat.so", names)
        self.assertFalse([n for n in names if "boost" in n], names)  # Boost.DLL on std::filesystem
        for elf in elves:
            with self.subTest(elf=elf.name):
                dump = subprocess.run(["objdump", "-p", "-T", str(elf)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=_clean_env(), timeout=60)
                self.assertEqual(dump.returncode, 0, dump.stdout.decode()[-2000:])
                versions = {tuple(int(x) for x in v.split("."))
                            for v in re.findall(r"GLIBC_(2\.[0-9.]+[0-9])", dump.stdout.decode())}
                self.assertTrue(versions, "no glibc version at all: not what objdump shows")
                self.assertLessEqual(max(versions), (2, 28), sorted(versions))

    def test_the_tarball_holds_the_wheels_files(self):
        self.assertIsNotNone(self.tarball)
        self.assertEqual(self.tarball.name, "plughost-0.1.0-linux-x86_64.tar.gz")
        with tarfile.open(self.tarball) as archive:
            members = {m.name: m for m in archive.getmembers()}
        self.assertTrue(all(n.startswith("plughost-0.1.0/") or n == "plughost-0.1.0"
                            for n in members), sorted(members)[:5])
        in_tarball = {n[len("plughost-0.1.0/"):] for n, m in members.items() if m.isfile()}
        with zipfile.ZipFile(self.wheel) as archive:
            prefix = "plughost_lmcache/_root/"
            in_wheel = {n[len(prefix):] for n in archive.namelist() if n.startswith(prefix)}
        self.assertEqual(in_tarball - {"LICENSE", "NOTICE"}, in_wheel)
        self.assertTrue(members["plughost-0.1.0/bin/plughost"].mode & stat.S_IXUSR)
        self.assertEqual({m.uid for m in members.values()}, {0})

    def test_every_elf_needs_only_glibc_beyond_the_wheel(self):
        extracted = self.tmp / "extracted"
        _extract_with_modes(self.wheel, extracted)
        elves = [p for p in extracted.rglob("*") if p.is_file() and _is_elf(p)]
        self.assertGreaterEqual(len(elves), 6)
        root = extracted.resolve()
        for elf in elves:
            with self.subTest(elf=str(elf.relative_to(extracted))):
                ldd = subprocess.run(["ldd", str(elf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=_clean_env(), timeout=60)
                self.assertEqual(ldd.returncode, 0, ldd.stdout.decode())
                for line in ldd.stdout.decode().splitlines():
                    if "=>" not in line:
                        continue
                    name, _, rest = (part.strip() for part in line.partition("=>"))
                    if name in GLIBC:
                        continue
                    target = rest.split(" (")[0].strip()
                    self.assertNotEqual(target, "not found", line)
                    self.assertTrue(Path(target).resolve().is_relative_to(root),
                                    f"{elf.name} needs {name} from outside the wheel: {line}")

    def test_installed_in_a_fresh_venv(self):
        venv = self.tmp / "venv"
        created = subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(venv)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=_clean_env(), timeout=SLOW)
        self.assertEqual(created.returncode, 0, created.stdout.decode())
        env = _clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
        installed = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", str(self.wheel)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=SLOW)
        self.assertEqual(installed.returncode, 0, installed.stdout.decode())

        # The console script execs the bundled executable.
        version = subprocess.run([str(venv / "bin" / "plughost"), "--version"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 timeout=60)
        self.assertEqual(version.returncode, 0, version.stderr.decode())
        self.assertEqual(version.stdout.decode().strip(), "plughost 0.1.0")

        modules = subprocess.run([str(venv / "bin" / "plughost"), "modules", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 timeout=60)
        self.assertEqual(modules.returncode, 0, modules.stderr.decode())
        loaded = {(m["kind"], m["name"]): m for m in json.loads(modules.stdout)["modules"]}
        for kind, name in (("runner", "node"), ("runner", "perl"), ("sink", "file"),
                           ("sink", "syslog")):
            with self.subTest(module=name):
                self.assertEqual(loaded[(kind, name)]["status"], "loaded", loaded.get((kind, name)))
                self.assertTrue(Path(loaded[(kind, name)]["source"]).resolve().is_relative_to(
                    venv.resolve()))

        # LMCache-shaped code, the drop-in switched on by the .pth, the bundled binary used.
        fake = lib.write_fake_lmcache(self.tmp / "fake")
        folder = self.folder()
        plugin = lib.write_file(folder / "all_hello.py", "print('hello from the wheel')\n")
        script = textwrap.dedent(f"""
            import time
            from lmcache.v1.manager import RuntimePluginLauncher
            import plughost_lmcache

            class Config:
                runtime_plugin_locations = [{str(folder)!r}]
                def to_json(self):
                    return "{{}}"

            print("CLASS", RuntimePluginLauncher.__module__, flush=True)
            print("PACKAGE", plughost_lmcache.__file__, flush=True)
            print("BINARY", plughost_lmcache.binary_path(), flush=True)
            launcher = RuntimePluginLauncher(Config(), "WORKER", 1, 0)
            launcher.launch_plugins()
            deadline = time.monotonic() + {lib.HANG}
            while launcher.plugin_processes and launcher.plugin_processes[0].poll() is None \\
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            launcher.stop_plugins()
            """)
        run = subprocess.run([str(venv / "bin" / "python"), "-c", script],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(self.tmp),
                             env=dict(env, PYTHONPATH=str(fake), PLUGHOST_LMCACHE="1"),
                             timeout=SLOW)
        output = run.stdout.decode()
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        self.assertEqual(run.stderr.decode(), "")
        self.assertIn("CLASS plughost_lmcache._launcher", output)
        package = re.search(r"^PACKAGE (.*)$", output, re.M).group(1)
        self.assertTrue(Path(package).resolve().is_relative_to(venv.resolve()), package)
        binary = Path(re.search(r"^BINARY (.*)$", output, re.M).group(1))
        self.assertEqual(binary.resolve(),
                         (Path(package).parent / "_root" / "bin" / "plughost").resolve())
        self.assertTrue(os.access(binary, os.X_OK))
        self.assertIn(f"LOG {lib.LOGGER_NAME} INFO [{plugin}] hello from the wheel", output)
        self.assertIn(f"LOG {lib.LOGGER_NAME} INFO Runtime plugin {plugin} exited with code 0",
                      output)


if __name__ == "__main__":
    unittest.main()
