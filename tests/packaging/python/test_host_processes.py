"""LMCache processes using the drop-in, each a Python process of its own: what every plugin gets
(PYTHONUNBUFFERED), and several of them with one role and worker id on one host (two vLLM
instances: each has a scheduler of worker -1)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402


class HostProcessesTest(lib.PluginTestCase):
    def setUp(self):
        super().setUp()
        # The control sockets of this test's plughosts, apart from any other's.
        self.run_dir = self.tmp / "run"
        self.processes = []
        self.addCleanup(self._end_processes)

    def _end_processes(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    process.stdin.close()  # it stops its plugins and exits
                    process.wait(timeout=lib.HANG)
                except (OSError, subprocess.TimeoutExpired):
                    lib.kill_quietly(process.pid, group=True)
                    process.wait(timeout=lib.HANG)
            process.stdout.close()

    def lmcache_process(self, folder, role="SCHEDULER", worker_id=-1, **env):
        """A Python process as LMCache's would be, with the drop-in's launcher, once it has
        launched its plugins; it stops them and exits when its stdin closes. Its log lines go to
        err.N in the test's folder."""
        script = textwrap.dedent(f"""
            import logging
            import sys
            logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                                format="%(levelname)s %(name)s %(message)s")
            from plughost_lmcache import RuntimePluginLauncher

            class Config:
                runtime_plugin_locations = [{str(folder)!r}]
                def to_json(self):
                    return "{{}}"

            launcher = RuntimePluginLauncher(Config(), {role!r}, 1, {worker_id})
            launcher.launch_plugins()
            print("launched", flush=True)
            sys.stdin.read()
            launcher.stop_plugins()
            """)
        env.setdefault("PLUGHOST_SETTINGS", None)
        err_path = self.tmp / f"err.{len(self.processes)}"
        with open(err_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, start_new_session=True,
                env=lib.python_env(XDG_RUNTIME_DIR=str(self.run_dir), **env))
        process.err_path = err_path
        self.processes.append(process)
        self.assertEqual(process.stdout.readline().strip(), b"launched", err_path.read_text())
        return process

    def wait_for_text(self, path, text):
        deadline = time.monotonic() + lib.HANG
        while time.monotonic() < deadline:
            if text in path.read_text():
                return True
            time.sleep(0.05)
        return False

    def plughost(self, *args):
        env = lib.python_env(XDG_RUNTIME_DIR=str(self.run_dir))
        for name in list(env):
            if name.startswith("LMCACHE_"):
                del env[name]
        return subprocess.run([lib.BINARY] + list(args), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=lib.HANG, text=True)

    # -- PYTHONUNBUFFERED, as the newest LMCache sets it for every plugin ---------------------------

    def test_every_plugin_gets_pythonunbuffered_unless_the_settings_say_otherwise(self):
        folder = self.folder()
        lib.write_file(folder / "all_show.sh",
                       '#!/bin/sh\necho "unbuffered=${PYTHONUNBUFFERED-unset}"\n', 0o755)
        shown = f"[{folder / 'all_show.sh'}] unbuffered="
        # Over the value this process inherited, as LMCache does; a settings file leaves it as
        # inherited (~), or sets another value.
        for value, seen in ((None, "1"), ("~", "0"), ('"2"', "2")):
            settings = None
            if value is not None:
                settings = str(lib.write_file(
                    self.tmp / "plughost.yaml",
                    f"plughost:\n  environment:\n    PYTHONUNBUFFERED: {value}\n"))
            process = self.lmcache_process(folder, PYTHONUNBUFFERED="0",
                                           PLUGHOST_SETTINGS=settings)
            self.assertTrue(self.wait_for_text(process.err_path, shown), value)
            process.stdin.close()
            process.wait(timeout=lib.HANG)
            self.assertIn(shown + seen + "\n", process.err_path.read_text())

    # -- two LMCache processes of one role and worker id ------------------------------------------

    def test_two_lmcache_processes_of_one_identity_both_run_and_status_reaches_each(self):
        folder = self.folder()
        ran = self.tmp / "ran"
        ran.mkdir()
        lib.write_file(folder / "all_mark.sh", textwrap.dedent(f"""\
            #!/bin/sh
            echo "$PLUGHOST_HOST_PID" > "{ran}/$PLUGHOST_HOST_PID"
            exec sleep 300
            """), 0o755)
        # One settings file for every LMCache process of the host, naming one metrics address,
        # which this test holds: neither plughost can listen there, both run their plugins.
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(4)
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        settings = lib.write_file(self.tmp / "plughost.yaml",
                                  f'plughost:\n  metrics_address: "{address}"\n')
        first = self.lmcache_process(folder, PLUGHOST_SETTINGS=str(settings))
        second = self.lmcache_process(folder, PLUGHOST_SETTINGS=str(settings))

        deadline = time.monotonic() + lib.HANG
        while len(list(ran.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(list(ran.iterdir())), 2, "each plughost runs the plugin")
        for process in (first, second):
            log = process.err_path.read_text()
            self.assertIn("WARNING lmcache.v1.plugin.runtime_plugin_launcher plughost: no metrics "
                          "endpoint: ", log)
            self.assertNotIn("no control socket", log)

        # Each has a socket of its own; --all lists both, --pid reaches each.
        listed = self.plughost("status", "--all", "--json")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        # As root, a service's folder (/run/plughost) is listed too: only this test's counts.
        runs = [r for r in json.loads(listed.stdout)
                if r["socket"].startswith(str(self.run_dir) + os.sep)]
        self.assertEqual(sorted(r["status"]["parent_pid"] for r in runs),
                         sorted([first.pid, second.pid]))
        for run in runs:
            self.assertEqual(run["status"]["identity"],
                             {"role": "SCHEDULER", "worker_id": -1, "worker_count": 1})
        for process in (first, second):
            status = self.plughost("status", "--json", "--pid", str(process.pid))
            self.assertEqual(status.returncode, 0, status.stderr)
            answer = json.loads(status.stdout)
            self.assertEqual(answer["parent_pid"], process.pid)
            self.assertEqual([p["state"] for p in answer["plugins"]], ["running"])
            self.assertTrue((ran / str(answer["pid"])).exists())
        # By role and worker alone: both are named, and how to choose.
        both = self.plughost("status", "--role", "SCHEDULER", "--worker-id", "-1")
        self.assertEqual(both.returncode, 2)
        self.assertIn("2 plughosts run with this role and worker id", both.stderr)


if __name__ == "__main__":
    unittest.main()
