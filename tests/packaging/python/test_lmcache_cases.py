"""LMCache's own RuntimePluginLauncher test cases, restated for the drop-in with real plugins."""

# LMCache's versions (tests/v1/plugin/test_runtime_plugin_launcher.py) mock Popen, shutil.which
# and the logger; these run real plugins through plughost and read the real log records.

import logging
import os
import shutil
import signal
import sys
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402
from plughost_lmcache import RuntimePluginLauncher  # noqa: E402


class LMCacheCasesTest(lib.PluginTestCase):
    def make(self, locations, role="WORKER", worker_count=4, worker_id=1):
        return self.launcher(RuntimePluginLauncher(
            lib.MockConfig([str(p) for p in locations]), role, worker_count=worker_count,
            worker_id=worker_id))

    def launched(self, capture):
        return [m for m in capture.messages() if m.startswith("Launched runtime plugin: ")]

    # -- test_init --------------------------------------------------------------------------------

    def test_init(self):
        config = lib.MockConfig()
        launcher = self.launcher(RuntimePluginLauncher(config, "WORKER", 4, 1))
        self.assertIs(launcher.config, config)
        self.assertEqual(launcher.role, "WORKER")
        self.assertEqual(launcher.worker_count, 4)
        self.assertEqual(launcher.worker_id, 1)
        self.assertEqual(launcher.plugin_processes, [])

    # -- test_launch_plugins_no_locations ---------------------------------------------------------

    def test_no_locations_starts_nothing(self):
        before = lib.children_of_this_process()
        launcher = self.make([])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
        self.assertEqual(launcher.plugin_processes, [])
        self.assertEqual(capture.messages(), [])
        if before is not None:
            self.assertEqual(lib.children_of_this_process(), before)

    # -- test_launch_plugins_location_does_not_exist ----------------------------------------------

    def test_missing_location_is_one_warning(self):
        missing = self.tmp / "non" / "existent" / "path"
        before = lib.children_of_this_process()
        launcher = self.make([missing])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
        warnings = [r for r in capture.records if r.levelno >= logging.WARNING]
        self.assertEqual(len(warnings), 1, [r.getMessage() for r in warnings])
        self.assertIn("does not exist", warnings[0].getMessage())
        self.assertEqual(warnings[0].getMessage(),
                         f"Runtime plugin location {missing} does not exist")
        self.assertEqual(launcher.plugin_processes, [])
        if before is not None:
            self.assertEqual(lib.children_of_this_process(), before)

    # -- test_launch_plugins_python_file ----------------------------------------------------------

    def test_python_plugin_runs(self):
        folder = self.folder()
        plugin = lib.write_file(folder / "worker_test.py",
                                "#!/usr/bin/env python3\nprint('Hello from plugin')")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertEqual(len(launcher.plugin_processes), 1)
            process = launcher.plugin_processes[0]
            self.assertEqual(process.path, str(plugin))
            # LMCache resolves the whole shebang line with shutil.which and runs
            # [/usr/bin/python3, file]; the drop-in runs the shebang as the kernel would.
            self.assertEqual(process.args, ["/usr/bin/env", "python3", str(plugin)])
            self.assertTrue(capture.wait_for_message(f"[{plugin}] Hello from plugin"))
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {plugin} exited with code 0"))
        self.assertIn(f"Launched runtime plugin: {plugin} with /usr/bin/env",
                      capture.messages(logging.INFO))
        self.assertEqual(process.poll(), 0)

    # -- test_launch_plugins_role_filtering -------------------------------------------------------

    def test_role_filtering(self):
        folder = self.folder()
        for name in ("worker_test.py", "scheduler_test.py", "all_test.py"):
            lib.write_file(folder / name, "#!/usr/bin/env python3\n")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
        skips = [r for r in capture.records
                 if r.msg == "Skipping %s: requires role %s" and len(r.args) == 2]
        self.assertEqual(len(skips), 1)
        self.assertEqual(skips[0].args[0], str(folder / "scheduler_test.py"))
        self.assertEqual(skips[0].args[1], "SCHEDULER")
        self.assertEqual(sorted(p.name for p in launcher.plugin_processes),
                         ["all_test.py", "worker_test.py"])
        self.assertEqual(len(self.launched(capture)), 2)

    # -- test_launch_plugins_worker_id_filtering --------------------------------------------------

    def test_worker_id_filtering(self):
        folder = self.folder()
        for name in ("worker_0_specific.py", "worker_1_specific.py", "worker_generic.py"):
            lib.write_file(folder / name, "#!/usr/bin/env python3\n")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
        self.assertIn(
            f"worker 1 is skipping plugin {folder / 'worker_0_specific.py'}, "
            f"which is only for worker ID 0", capture.messages(logging.INFO))
        self.assertEqual(sorted(p.name for p in launcher.plugin_processes),
                         ["worker_1_specific.py", "worker_generic.py"])
        self.assertEqual(len(self.launched(capture)), 2)

    # -- test_get_interpreter_* -------------------------------------------------------------------
    # _get_interpreter does not exist in the drop-in (plughost chooses the interpreter): each case
    # is checked by what really ran.

    def run_one(self, name, text):
        folder = self.folder()
        plugin = lib.write_file(folder / name, text)
        launcher = self.make([folder])
        capture_cm = lib.captured_logs()
        capture = capture_cm.__enter__()
        self.addCleanup(capture_cm.__exit__, None, None, None)
        launcher.launch_plugins()
        return plugin, launcher, capture

    def test_interpreter_env_python3_shebang(self):
        plugin, launcher, capture = self.run_one(
            "test.py", "#!/usr/bin/env python3\nprint('test')")
        self.assertTrue(capture.wait_for_message(f"[{plugin}] test"))
        # LMCache: shutil.which("/usr/bin/env python3") finds nothing and it falls back to
        # python; the drop-in runs /usr/bin/env with the argument python3, as Linux does.
        self.assertEqual(launcher.plugin_processes[0].args[:2], ["/usr/bin/env", "python3"])

    def test_interpreter_bash_shebang(self):
        plugin, launcher, capture = self.run_one("test.sh", "#!/bin/bash\necho 'test'")
        self.assertTrue(capture.wait_for_message(f"[{plugin}] test"))
        self.assertIn(f"Launched runtime plugin: {plugin} with /bin/bash", capture.messages())
        self.assertEqual(launcher.plugin_processes[0].args, ["/bin/bash", str(plugin)])

    def test_interpreter_without_shebang_is_python3_on_path(self):
        plugin, launcher, capture = self.run_one("test.py", "print('test')")
        self.assertTrue(capture.wait_for_message(f"[{plugin}] test"))
        # LMCache tries `python` first, then `python3`; plughost tries python3 first.
        expected = shutil.which("python3")
        self.assertIsNotNone(expected)
        self.assertEqual(os.path.realpath(launcher.plugin_processes[0].args[0]),
                         os.path.realpath(expected))

    def test_unsupported_file_type_is_never_launched(self):
        folder = self.folder()
        lib.write_file(folder / "test.txt", "test content")
        lib.write_file(folder / "other.py", "print('other ran')")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message("other ran"))
        self.assertEqual([p.name for p in launcher.plugin_processes], ["other.py"])
        self.assertFalse([m for m in capture.messages() if "test.txt" in m])

    # -- test_should_skip_plugin (parametrized) ---------------------------------------------------
    # _should_skip_plugin does not exist in the drop-in: each row becomes a real file named after
    # its parts, and what ran tells the decision.

    SKIP_TABLE = [
        ("WORKER", 1, ["SCHEDULER", "test"], True),
        ("WORKER", 1, ["WORKER", "test"], False),
        ("WORKER", 1, ["ALL", "test"], False),
        ("WORKER", 1, ["WORKER", "0", "specific"], True),
        ("WORKER", 1, ["WORKER", "1", "specific"], False),
        ("WORKER", 1, ["WORKER", "generic"], False),
        ("SCHEDULER", 0, ["WORKER", "generic"], True),
    ]

    def test_should_skip_table(self):
        for index, (role, worker_id, parts, should_skip) in enumerate(self.SKIP_TABLE):
            with self.subTest(role=role, worker_id=worker_id, parts=parts):
                folder = self.folder(f"case{index}")
                plugin = lib.write_file(folder / ("_".join(parts) + ".py"), "print('ran')\n")
                launcher = self.make([folder], role=role, worker_id=worker_id)
                with lib.captured_logs() as capture:
                    launcher.launch_plugins()
                    if not should_skip:
                        self.assertTrue(capture.wait_for_message(f"[{plugin}] ran"))
                launched = self.launched(capture)
                skipped = [m for m in capture.messages() if "skipping" in m.lower()]
                if should_skip:
                    self.assertEqual(launched, [])
                    self.assertEqual(len(skipped), 1, capture.messages())
                    self.assertIn(str(plugin), skipped[0])
                else:
                    self.assertEqual(len(launched), 1)
                    self.assertEqual(skipped, [])

    # -- test_stop_plugins ------------------------------------------------------------------------

    def test_stop_plugins_leaves_nothing_behind(self):
        folder = self.folder()
        pid_files = [self.track_pid_file(self.tmp / f"sleeper{i}.pid") for i in range(2)]
        for i, pid_file in enumerate(pid_files):
            lib.sleeper_plugin(folder / f"all_sleeper{i}.py", pid_file)
        launcher = self.make([folder])
        with lib.captured_logs():
            launcher.launch_plugins()
            pids = [int(self.wait_for_file(p)) for p in pid_files]
            self.assertEqual(sorted(p.pid for p in launcher.plugin_processes), sorted(pids))
            self.assertTrue(all(p.poll() is None for p in launcher.plugin_processes))
            launcher.stop_plugins()
            self.assertTrue(lib.wait_gone(pids), "plugins still running after stop_plugins()")
            self.assertEqual([p.poll() for p in launcher.plugin_processes],
                             [-signal.SIGTERM] * 2)
            launcher.stop_plugins()  # idempotent
        self.assertEqual(lib.processes_mentioning(str(folder)), [])

    # -- test_atexit_registration -----------------------------------------------------------------

    def test_atexit_stops_plugins(self):
        folder = self.folder()
        pid_file = self.track_pid_file(self.tmp / "sleeper.pid")
        plugin = lib.sleeper_plugin(folder / "all_sleeper.py", pid_file)
        code = textwrap.dedent(f"""
            import logging, sys, time
            from pathlib import Path
            from plughost_lmcache import RuntimePluginLauncher

            logger = logging.getLogger({lib.LOGGER_NAME!r})
            logger.setLevel(logging.INFO)
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)

            class Config:
                runtime_plugin_locations = [{str(folder)!r}]
                def to_json(self):
                    return "{{}}"

            RuntimePluginLauncher(Config(), "WORKER", 1, 0).launch_plugins()
            deadline = time.monotonic() + {lib.HANG}
            while not Path({str(pid_file)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            print("READY", flush=True)
            # Returns normally: only the atexit hook can stop the plugin and log its end.
            """)
        child = lib.run_python(code, env=lib.python_env(), start_new_session=True)
        output = child.stdout.decode()
        self.assertEqual(child.returncode, 0, child.stderr.decode())
        self.assertIn("READY", output)
        pid = int(pid_file.read_text())
        # Logged by the exiting process itself: stop_plugins() ran at exit and waited for it.
        self.assertIn(f"Runtime plugin {plugin} exited with code -{int(signal.SIGTERM)}", output)
        self.assertTrue(lib.wait_gone([pid]))


if __name__ == "__main__":
    unittest.main()
