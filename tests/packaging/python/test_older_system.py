"""The wheel and the tarball on an older system than the one they were built on.

A Debian 11 root (glibc 2.31, Python 3.9, pip 20.3), made once per machine by
scripts/older-root.sh: the wheel installs there with pip into a fresh venv, its plughost and
every shipped module load, LMCache-shaped code runs python and bash plugins through the
drop-in, a SIGKILL of the Python parent leaves nothing behind, the tarball runs, and a module a
team built on Debian 12 loads once lowered with glibc_floor (and is refused, saying how to fix
it, before). The commands run in the root with chroot, in a mount namespace of their own (its
proc and dev mounts go with it)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402

SLOW = 600  # the root's first making downloads 260 MB; a hang bound only
DEADLINE = 2.0  # everything gone this long after the parent's SIGKILL (as test_parent_death)
# Every module plughost ships, built in or loaded from lib/plughost/modules.
SHIPPED = {("runner", "python"), ("runner", "bash"), ("runner", "node"), ("runner", "perl"),
           ("sink", "stdout"), ("sink", "jsonl"), ("sink", "file"), ("sink", "syslog")}


def _clean_env(**extra):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.update(extra)
    return env


class OlderSystemTest(lib.PluginTestCase):
    @classmethod
    def setUpClass(cls):
        # A sanitizer build's wheel bundles Debian 12's sanitizer runtime, which does not run on
        # glibc 2.31 (and is no product): the release build's wheel is what ships and is tried.
        if lib.sanitizer_build():
            raise unittest.SkipTest("a sanitizer build (its runtime needs glibc 2.36)")
        made = subprocess.run([str(lib.SOURCE_DIR / "scripts" / "older-root.sh")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=SLOW)
        if made.returncode == 77:
            raise unittest.SkipTest(made.stderr.decode().strip())
        if made.returncode != 0:
            raise AssertionError("older-root.sh failed: " + made.stderr.decode()[-2000:])
        cls.root = Path(made.stdout.decode().strip().splitlines()[-1])
        # This run's folder inside the root; the same path seen from inside is cls.inside.
        cls.host_work = Path(tempfile.mkdtemp(prefix="plughost-older-", dir=cls.root / "tmp"))
        cls.inside = "/" + str(cls.host_work.relative_to(cls.root))
        built = subprocess.run(
            [str(lib.SOURCE_DIR / "scripts" / "build-wheel.sh"), str(lib.BUILD_DIR),
             str(cls.host_work / "dist")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=SLOW)
        if built.returncode != 0:
            shutil.rmtree(cls.host_work, ignore_errors=True)
            raise AssertionError("build-wheel.sh failed:\n" + built.stderr.decode()[-4000:])
        tarball, wheel = built.stdout.decode().strip().splitlines()[-2:]
        cls.wheel = Path(wheel).name
        cls.tarball = Path(tarball).name
        cls.venv = cls.inside + "/venv"
        setup = cls.run_inside(f"""
            set -e
            python3 -m venv {cls.venv}
            {cls.venv}/bin/python -m pip install --no-index {cls.inside}/dist/{cls.wheel}
            mkdir -p {cls.inside}/tarball
            tar -xzf {cls.inside}/dist/{cls.tarball} -C {cls.inside}/tarball
            """, timeout=SLOW)
        cls.setup_output = setup

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.host_work, ignore_errors=True)

    @classmethod
    def command_inside(cls, script):
        """argv that runs a shell script in the root, with proc and dev mounted for it only."""
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && '
                'exec chroot "$1" /bin/sh -c "$2"', "sh", str(cls.root), textwrap.dedent(script)]

    @classmethod
    def run_inside(cls, script, timeout=120, **env):
        return subprocess.run(cls.command_inside(script), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=_clean_env(**env), timeout=timeout)

    def setUp(self):
        super().setUp()
        out = self.setup_output
        self.assertEqual(out.returncode, 0, (out.stdout + out.stderr).decode()[-4000:])
        # This test's own folder in the root, removed after it, and what ran from it stopped.
        self.host_dir = Path(tempfile.mkdtemp(prefix="case-", dir=self.host_work))
        self.dir = self.inside + "/" + self.host_dir.name
        self.addCleanup(self._stop_what_ran_inside)

    def _stop_what_ran_inside(self):
        for pid in lib.processes_mentioning(str(self.dir)):
            lib.kill_quietly(pid)
        shutil.rmtree(self.host_dir, ignore_errors=True)

    def write(self, name, text, mode=0o644):
        return lib.write_file(self.host_dir / name, textwrap.dedent(text), mode)

    def test_the_system_is_older(self):
        libc = self.run_inside("ldd --version | head -n 1; python3 -V; pip3 -V 2>/dev/null; "
                               f"{self.venv}/bin/pip -V")
        self.assertEqual(libc.returncode, 0, libc.stderr.decode())
        self.assertRegex(libc.stdout.decode(), r"2\.31")
        self.assertIn("Python 3.9", libc.stdout.decode())

    def test_a_program_linked_here_runs_its_constructors_there(self):
        # glibc before 2.34 leaves a newer program's own constructors to its start code, which
        # does not run them: plughost's main() does (core/cli/constructors.cpp, the same file).
        program = self.host_dir / "constructed"
        # Linked with the compatibility library as plughost is: an exception unwound between a
        # failed dlopen() and dlerror() leaves the error to its caller.
        source = self.write("constructed.cpp", """\
            #include <dlfcn.h>
            #include <cstdio>
            #include <cstring>
            #include <stdexcept>
            #include "constructors.hpp"
            struct announced { announced() { std::puts("constructed"); } } object;
            int main(int argc, char** argv, char** envp) {
              plughost::cli::run_constructors_if_skipped(argc, argv, envp);
              std::puts("main");
              if (dlopen("/nonexistent/module.so", RTLD_NOW) == nullptr) {
                try { throw std::runtime_error("x"); } catch (const std::exception&) {}
                const char* why = dlerror();
                std::puts(why && std::strstr(why, "/nonexistent/module.so") ? "dlerror-kept"
                                                                            : "dlerror-lost");
              }
            }
            """)
        cli = lib.SOURCE_DIR / "core" / "cli"
        compat_dir = next(self.root.glob(
            self.venv.lstrip("/") + "/lib/python3*/site-packages/plughost_lmcache/_root/lib"))
        built = subprocess.run(["g++", "-std=c++20", "-O1", f"-I{cli}", str(source),
                                str(cli / "constructors.cpp"), f"-L{compat_dir}",
                                "-Wl,--no-as-needed", "-l:libplughost-glibc-compat.so",
                                "-Wl,-rpath," + "/" + str(compat_dir.relative_to(self.root)),
                                "-o", str(program)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(built.returncode, 0, built.stdout.decode())
        lowered = subprocess.run([sys.executable, "-m", "plughost_lmcache.glibc_floor",
                                  str(program)], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=lib.python_env(), timeout=120)
        self.assertEqual(lowered.returncode, 0, lowered.stdout.decode())
        ran = self.run_inside(f"{self.dir}/constructed")
        self.assertEqual(ran.returncode, 0, ran.stderr.decode())
        self.assertEqual(ran.stdout.decode().split(), ["constructed", "main", "dlerror-kept"])

    def test_the_wheel_installs_and_every_shipped_module_loads(self):
        # Every module of the package compiles and imports on Python 3.9, warnings as errors.
        imported = self.run_inside(
            f"{self.venv}/bin/python -W error -c 'import pkgutil, importlib, plughost_lmcache; "
            "[importlib.import_module(\"plughost_lmcache.\" + m.name) "
            "for m in pkgutil.iter_modules(plughost_lmcache.__path__)]'")
        self.assertEqual(imported.returncode, 0, imported.stderr.decode())
        version = self.run_inside(f"{self.venv}/bin/plughost --version")
        self.assertEqual(version.returncode, 0, version.stderr.decode())
        self.assertEqual(version.stdout.decode().strip(), "plughost 0.1.0")
        modules = self.run_inside(f"{self.venv}/bin/plughost modules --json")
        self.assertEqual(modules.returncode, 0, modules.stderr.decode())
        listed = {(m["kind"], m["name"]): m for m in json.loads(modules.stdout)["modules"]}
        self.assertLessEqual(SHIPPED, set(listed), listed)
        for key in SHIPPED:
            self.assertEqual(listed[key]["status"], "loaded", listed[key])

    def test_errors_unwind_through_the_libraries_on_the_older_glibc(self):
        # A YAML error is thrown in libyaml-cpp and caught in libplughost: an exception that
        # crosses libraries (the unwinder's look-up, which glibc 2.31 does not have, is
        # libplughost-glibc-compat's there).
        self.write("bad.yaml", "runtime_plugin_locations: [a\nplughost: {\n")
        bad = self.run_inside(f"{self.venv}/bin/plughost run --role worker --config "
                              f"{self.dir}/bad.yaml")
        self.assertEqual(bad.returncode, 2, bad.stderr.decode())
        lines = bad.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], rf"^plughost: error: {re.escape(self.dir)}/bad\.yaml:\d+")

    def lmcache_script(self, body):
        lib.write_fake_lmcache(self.host_dir / "fake")
        return self.write("lmcache_shaped.py", "import time\n" + textwrap.dedent(body))

    def test_the_drop_in_runs_python_and_bash_plugins_as_lmcache_would(self):
        self.write("plugins/scheduler_hello.py", "import sys\nprint('py', sys.argv[0])\n")
        self.write("plugins/scheduler_hi.sh",
                   "#!/bin/bash\necho \"sh $LMCACHE_RUNTIME_PLUGIN_ROLE "
                   "$LMCACHE_RUNTIME_PLUGIN_WORKER_ID\"\n", 0o755)
        self.write("plugins/worker_no.sh", "#!/bin/bash\necho worker only\n", 0o755)
        self.lmcache_script(f"""
            from dataclasses import dataclass, field
            from lmcache.v1.manager import RuntimePluginLauncher
            from lmcache.v1.multiprocess.mp_runtime_plugin_launcher import MPRuntimePluginLauncher

            def wait(launcher):
                deadline = time.monotonic() + {lib.HANG}
                while any(p.poll() is None for p in launcher.plugin_processes) \\
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                launcher.stop_plugins()

            class Config:
                runtime_plugin_locations = [{self.dir + '/plugins'!r}]
                def to_json(self):
                    return "{{}}"

            print("CLASS", RuntimePluginLauncher.__module__, flush=True)
            scheduler = RuntimePluginLauncher(Config(), "scheduler", 2, -1)
            scheduler.launch_plugins()
            wait(scheduler)

            @dataclass
            class PluginConfig:
                locations: list = field(default_factory=lambda: [{self.dir + '/plugins'!r}])
                extra_config: dict = field(default_factory=dict)

            print("MP", MPRuntimePluginLauncher.__module__, flush=True)
            mp = MPRuntimePluginLauncher(runtime_plugin_config=PluginConfig())
            mp.launch_plugins()
            wait(mp._inner)
            """)
        run = self.run_inside(f"{self.venv}/bin/python {self.dir}/lmcache_shaped.py",
                              PYTHONPATH=self.dir + "/fake", PLUGHOST_LMCACHE="1")
        out = run.stdout.decode()
        self.assertEqual(run.returncode, 0, run.stderr.decode() + out)
        self.assertIn("CLASS plughost_lmcache._launcher", out)
        self.assertIn("MP plughost_lmcache._mp", out)
        plugins = self.dir + "/plugins"
        # The scheduler (worker -1): its two plugins, not the worker's.
        self.assertIn(f"[{plugins}/scheduler_hello.py] py {plugins}/scheduler_hello.py", out)
        self.assertIn(f"[{plugins}/scheduler_hi.sh] sh scheduler -1", out)
        # MP mode (no role: every plugin, role empty, worker 0).
        self.assertIn(f"[{plugins}/worker_no.sh] worker only", out)
        self.assertIn(f"[{plugins}/scheduler_hi.sh] sh  0", out)
        self.assertEqual(out.count("worker only"), 1, out)

    def test_sigkill_of_the_python_parent_leaves_no_plugin(self):
        pids = self.dir + "/pids"
        self.write("plugins/all_tree.sh", f"""\
            #!/bin/bash
            sleep 1000 &
            echo "$$ $! $PLUGHOST_HOST_PID" > "{pids}.tmp"
            mv "{pids}.tmp" "{pids}"
            while true; do sleep 1; done
            """, 0o755)
        self.lmcache_script(f"""
            from lmcache.v1.manager import RuntimePluginLauncher

            class Config:
                runtime_plugin_locations = [{self.dir + '/plugins'!r}]
                def to_json(self):
                    return "{{}}"

            RuntimePluginLauncher(Config(), "worker", 1, 0).launch_plugins()
            while True:
                time.sleep(1000)
            """)
        parent = subprocess.Popen(
            self.command_inside(f"exec {self.venv}/bin/python {self.dir}/lmcache_shaped.py"),
            env=_clean_env(PYTHONPATH=self.dir + "/fake", PLUGHOST_LMCACHE="1"),
            stdout=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(lambda: parent.poll() is None and lib.kill_quietly(parent.pid, True))
        fields = self.wait_for_file(self.host_dir / "pids").split()
        watched = [int(f) for f in fields]
        self.assertEqual(len(watched), 3, fields)
        self.assertFalse([p for p in watched if lib.pid_gone(p)], "not all running")
        # The Python process is the one that exec'd from unshare's shell: the parent's pid.
        os.kill(parent.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        parent.wait(timeout=lib.HANG)
        left = watched
        while time.monotonic() - killed_at < DEADLINE:
            left = [p for p in watched if not lib.pid_gone(p)]
            left += [p for p in lib.processes_mentioning(self.dir) if p not in left]
            if not left:
                break
            time.sleep(0.05)
        self.assertEqual(left, [], f"still running {DEADLINE} s after the parent was killed")

    def test_the_tarball_runs(self):
        (top,) = (self.host_work / "tarball").iterdir()
        binary = f"{self.inside}/tarball/{top.name}/bin/plughost"
        version = self.run_inside(f"{binary} --version")
        self.assertEqual(version.returncode, 0, version.stderr.decode())
        self.assertEqual(version.stdout.decode().strip(), "plughost 0.1.0")
        modules = self.run_inside(f"{binary} modules --json")
        self.assertEqual(modules.returncode, 0, modules.stderr.decode())
        listed = {(m["kind"], m["name"]): m["status"] for m in json.loads(modules.stdout)["modules"]}
        self.assertEqual({k: listed.get(k) for k in SHIPPED}, {k: "loaded" for k in SHIPPED})
        self.write("plugins/all_hello.py", "print('hello from the tarball')\n")
        self.write("plugins/all_hello.sh", "#!/bin/bash\necho \"bash $BASH_VERSION\"\n", 0o755)
        # Signal 29's name as glibc 2.32 and later give it (sigabbrev_np), not the older IO.
        self.write("signalled/all_poll.sh", "#!/bin/bash\nkill -29 $$\n", 0o755)
        run = self.run_inside(f"{binary} run --role worker --worker-id 0 --worker-count 1 "
                              f"--location {self.dir}/plugins", timeout=lib.HANG * 2)
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        out = run.stdout.decode()
        self.assertIn("hello from the tarball", out)
        self.assertRegex(out, r"bash 5\.1")  # Debian 11's bash ran it
        signalled = self.run_inside(f"{binary} run --role worker --location {self.dir}/signalled",
                                    timeout=lib.HANG * 2)
        self.assertIn("SIGPOLL", (signalled.stdout + signalled.stderr).decode())

    def test_a_module_built_on_debian_12_loads_once_lowered(self):
        # A team's sink: the test's echo sink and a call to stat(), which glibc 2.33 turned from
        # an inline wrapper into a function (GLIBC_2.33): as a module built on Debian 12 would.
        # Its static constructor also starts a thread that throws, catches and ends, and waits
        # for it, while plughost's dlopen() holds the dynamic loader's lock: the unwinder's
        # look-up must not need that lock (it did: the load hung until killed).
        extra = self.write("touch.cpp", """\
            #include <sys/stat.h>
            #include <stdexcept>
            #include <thread>
            extern "C" __attribute__((visibility("default"))) int team_touch(const char* p) {
              struct stat st;
              return stat(p, &st);
            }
            namespace {
            struct warm_up {
              warm_up() {
                std::thread t([] {
                  try { throw std::runtime_error("probe"); } catch (const std::exception&) {}
                });
                t.join();
              }
            } on_load;
            }
            """)
        folder = self.host_dir / "modules"
        folder.mkdir()
        module = folder / "team-echo.so"
        built = subprocess.run(
            ["g++", "-std=c++20", "-shared", "-fPIC", "-fvisibility=hidden", "-O1",
             "-DBOOST_DLL_USE_STD_FS", '-DECHO_NAME="teamecho"',
             f"-I{lib.SOURCE_DIR / 'core' / 'include'}",
             str(lib.SOURCE_DIR / "tests" / "modules" / "echo_sink.cpp"), str(extra),
             "-pthread", "-o", str(module)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=300)
        self.assertEqual(built.returncode, 0, built.stdout.decode())
        listing = f"{self.venv}/bin/plughost modules --json --module-path {self.dir}/modules"

        refused = self.run_inside(listing)
        self.assertEqual(refused.returncode, 0, refused.stderr.decode())
        (entry,) = [m for m in json.loads(refused.stdout)["modules"]
                    if m["source"].endswith("team-echo.so")]
        self.assertNotEqual(entry["status"], "loaded", entry)
        text = json.dumps(entry)
        self.assertIn("GLIBC_2.33", text)
        self.assertIn("glibc_floor", text)  # and says how to fix it

        compat = next(self.root.glob(
            self.venv.lstrip("/") + "/lib/python3*/site-packages/plughost_lmcache/_root/lib/"
            "libplughost-glibc-compat.so"))
        lowered = subprocess.run(
            [sys.executable, "-m", "plughost_lmcache.glibc_floor", "--compat", str(compat),
             str(module)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=lib.python_env(), timeout=120)
        self.assertEqual(lowered.returncode, 0, lowered.stdout.decode())
        loaded = self.run_inside(listing)
        (entry,) = [m for m in json.loads(loaded.stdout)["modules"]
                    if m["source"].endswith("team-echo.so")]
        self.assertEqual(entry["status"], "loaded", entry)
        self.assertEqual((entry["kind"], entry["name"]), ("sink", "teamecho"))


if __name__ == "__main__":
    unittest.main()
