"""The drop-in in LMCache's situations: the scheduler's worker id, runners, shebangs, install()."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unittest
from unittest import mock
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402
from plughost_lmcache import RuntimePluginLauncher  # noqa: E402
from plughost_lmcache import _launcher as launcher_module  # noqa: E402


class CompatTest(lib.PluginTestCase):
    def stand_in(self, plugin, list_delay=0, run_body="time.sleep(1000)"):
        """A stand-in for plughost: `list` plans `plugin` to run, `run` runs `run_body`."""
        return lib.write_file(self.tmp / "stand-in-plughost", textwrap.dedent(f"""\
            #!{sys.executable}
            import json, sys, time
            sys.stdin.read()
            location = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--location=")][0]
            if sys.argv[1] == "list":
                time.sleep({list_delay})
                print(json.dumps({{"locations": [location], "plugins": [{{
                    "name": {plugin!r}, "path": location + "/" + {plugin!r},
                    "location": location, "decision": "run", "reason": "", "runner": "python",
                    "argv": []}}]}}))
                sys.exit(0)
            """) + run_body + "\n", mode=0o755)

    def make(self, locations, role="WORKER", worker_count=1, worker_id=0):
        return self.launcher(RuntimePluginLauncher(
            lib.MockConfig([str(p) for p in locations]), role, worker_count, worker_id))

    def test_scheduler_worker_id_minus_one(self):
        folder = self.folder()
        out = self.tmp / "worker_id"
        lib.write_file(folder / "all_0_x.sh", "echo should-not-run\n")
        plugin = lib.write_file(
            folder / "all_x.sh",
            f'printf %s "$LMCACHE_RUNTIME_PLUGIN_WORKER_ID" > "{out}.tmp" && '
            f'mv "{out}.tmp" "{out}"\n')
        launcher = self.make([folder], role="SCHEDULER", worker_count=1, worker_id=-1)
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertEqual(self.wait_for_file(out), b"-1")
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {plugin} exited with code 0"))
        self.assertIn(f"worker -1 is skipping plugin {folder / 'all_0_x.sh'}, "
                      f"which is only for worker ID 0", capture.messages(logging.INFO))
        self.assertEqual([p.name for p in launcher.plugin_processes], ["all_x.sh"])
        self.assertFalse([m for m in capture.messages() if "should-not-run" in m])

    def test_runners_restricted_to_python_and_bash(self):
        folder = self.folder()
        lib.write_file(folder / "all_helper.js", "console.log('js ran');\n")
        py = lib.write_file(folder / "all_p.py", "print('py ran')\n")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {py} exited with code 0"))
        self.assertEqual([p.name for p in launcher.plugin_processes], ["all_p.py"])
        self.assertFalse([m for m in capture.messages() if "all_helper.js" in m])

        if shutil.which("node") is None:
            return  # the node runner cannot run anything here; the default case is checked
        with mock.patch.dict(os.environ, {"PLUGHOST_RUNNERS": "python,bash,node"}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                self.assertTrue(capture.wait_for_message(f"[{folder / 'all_helper.js'}] js ran"))
            self.assertEqual(sorted(p.name for p in launcher.plugin_processes),
                             ["all_helper.js", "all_p.py"])

    def test_lmcaches_own_spellings_in_the_environment_do_not_override_the_config_object(self):
        # LMCache has resolved LMCACHE_CONFIG_FILE, LMCACHE_RUNTIME_PLUGIN_LOCATIONS, its
        # deprecated LMCACHE_PLUGIN_LOCATIONS and plugin_locations into config.runtime_plugin_
        # locations already; the plughost the drop-in starts inherits the same environment and
        # must follow the object, and give plugins the object's to_json().
        wanted, other = self.folder("wanted"), self.folder("other")
        seen = self.tmp / "seen_config"
        lib.write_file(wanted / "all_w.sh",
                       f'printf %s "$LMCACHE_RUNTIME_PLUGIN_CONFIG" > "{seen}.tmp" && '
                       f'mv "{seen}.tmp" "{seen}"\n')
        lib.write_file(other / "all_o.sh", "echo other-ran\n")
        config_file = lib.write_file(
            self.tmp / "lmcache.yaml", f"plugin_locations: [{other}]\nchunk_size: 256\n")
        spellings = {"LMCACHE_CONFIG_FILE": str(config_file),
                     "LMCACHE_RUNTIME_PLUGIN_LOCATIONS": str(other),
                     "LMCACHE_PLUGIN_LOCATIONS": str(other),
                     "LMCACHE_RUNTIME_PLUGIN_CONFIG": '{"runtime_plugin_locations": ["/x"]}'}
        with mock.patch.dict(os.environ, spellings):
            text = '{"runtime_plugin_locations": ["%s"],  "chunk_size": 256}' % wanted
            launcher = self.launcher(RuntimePluginLauncher(
                lib.MockConfig([str(wanted)], text=text), "WORKER", 1, 0))
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                self.assertEqual(self.wait_for_file(seen).decode(), text)
        self.assertEqual([p.name for p in launcher.plugin_processes], ["all_w.sh"])
        self.assertFalse([m for m in capture.messages() if "other-ran" in m or "all_o" in m])

    def test_a_single_path_instead_of_a_list_is_one_location(self):
        # LMCache would iterate over the string's characters, and "/" would be a location.
        folder = self.folder()
        plugin = lib.write_file(folder / "all_x.sh", "echo one\n")
        config = lib.MockConfig([])
        config.runtime_plugin_locations = str(folder)
        launcher = self.launcher(RuntimePluginLauncher(config, "WORKER", 1, 0))
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"[{plugin}] one"))
        self.assertEqual([p.name for p in launcher.plugin_processes], ["all_x.sh"])
        self.assertIn(f"runtime_plugin_locations is one path, not a list: taking {str(folder)!r} "
                      f"as the only location", capture.messages(logging.WARNING))

    def test_a_wrong_runner_name_in_plughost_runners_is_named(self):
        folder = self.folder()
        lib.write_file(folder / "all_x.sh", "echo x\n")
        with mock.patch.dict(os.environ, {"PLUGHOST_RUNNERS": "python,bsh"}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
        self.assertEqual(launcher.plugin_processes, [])
        errors = capture.messages(logging.ERROR)
        self.assertTrue([m for m in errors if "unknown runner 'bsh'" in m
                         and m.endswith("(from PLUGHOST_RUNNERS=python,bsh)")], errors)

    def test_a_plugin_that_cannot_run_does_not_stop_the_others(self):
        # plughost list exits with 1 then (a plugin cannot run), its listing whole.
        folder = self.folder()
        out = self.tmp / "ran"
        lib.write_file(folder / "all_broken.py", "print('never')\n")
        lib.write_file(folder / "all_fine.sh", f'echo ran > "{out}"\n')
        settings = lib.write_file(self.tmp / "settings.yaml", textwrap.dedent("""\
            plughost:
              runners:
                python: {interpreter: /nonexistent/python3}
            """))
        with mock.patch.dict(os.environ, {"PLUGHOST_SETTINGS": str(settings)}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                self.assertEqual(self.wait_for_file(out), b"ran\n")
        self.assertEqual([p.name for p in launcher.plugin_processes], ["all_fine.sh"])
        errors = capture.messages(logging.ERROR)
        self.assertTrue([m for m in errors if "all_broken.py" in m and "/nonexistent" in m],
                        errors)

    def test_bare_shebang_name_uses_python3_on_path(self):
        folder = self.folder()
        plugin = lib.write_file(folder / "all_bare.py", "#!python3\nprint('bare ran')\n")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"[{plugin}] bare ran"))
        expected = shutil.which("python3")
        self.assertIsNotNone(expected)
        self.assertEqual(os.path.realpath(launcher.plugin_processes[0].args[0]),
                         os.path.realpath(expected))

    def test_plughost_does_not_start_itself(self):
        folder = self.folder()
        nested = lib.write_file(folder / "all_plughost.sh", textwrap.dedent("""\
            #!/bin/sh
            # Should plughost ever accept to run here, the test fails instead of recursing.
            if [ -n "$NESTED_PLUGHOST_GUARD" ]; then
              echo "nested plughost ran a plugin" >&2
              exit 3
            fi
            export NESTED_PLUGHOST_GUARD=1
            exec "$PLUGHOST_BINARY" run --location "$(dirname "$0")"
            """))
        hello = lib.write_file(folder / "all_hello.sh", "#!/bin/sh\necho hello\n")
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {nested} exited with code"))
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {hello} exited with code 0"))
            launcher.stop_plugins()
        refusals = [r.getMessage() for r in capture.records
                    if r.name == lib.STDERR_LOGGER_NAME
                    and r.getMessage().startswith(f"[{nested}]")]
        self.assertEqual(len(refusals), 1, refusals)
        self.assertIn("plughost: error: refusing to run", refusals[0])
        self.assertIn(f"Runtime plugin {nested} exited with code 2", capture.messages())
        self.assertEqual(capture.messages().count(f"[{hello}] hello"), 1)
        self.assertEqual(len([m for m in capture.messages()
                              if m.startswith(f"Launched runtime plugin: {hello} ")]), 1)
        self.assertEqual(lib.processes_mentioning(str(folder)), [])

    def test_stderr_lines_go_to_the_stderr_logger(self):
        folder = self.folder()
        plugin = lib.write_file(folder / "all_err.py", textwrap.dedent("""\
            import sys
            print('to stdout')
            print('  to stderr  ', file=sys.stderr)
            """))
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {plugin} exited with code 0"))
        err = [r for r in capture.records if r.getMessage() == f"[{plugin}] to stderr"]
        out = [r for r in capture.records if r.getMessage() == f"[{plugin}] to stdout"]
        self.assertEqual([r.name for r in err], [lib.STDERR_LOGGER_NAME])
        self.assertEqual([r.name for r in out], [lib.LOGGER_NAME])
        self.assertEqual((err[0].levelno, err[0].plughost_stream, err[0].plughost_plugin),
                         (logging.INFO, "stderr", "all_err.py"))
        self.assertEqual(err[0].plughost_pid, launcher.plugin_processes[0].pid)
        self.assertEqual(err[0].plughost_record["line"], "  to stderr  ")

    def test_paths_are_shown_as_the_caller_gave_its_locations(self):
        # LMCache prints Path(loc) / <relative path>: relative locations stay relative.
        lib.write_file(self.tmp / "plugins" / "all_a.sh", "echo a\n")
        lib.write_file(self.tmp / "more" / "sub" / "all_b.sh", "echo b\n")
        lib.write_file(self.tmp / "single" / "all_one.sh", "echo one\n")
        expected = {"all_a.sh": "plugins/all_a.sh", "sub/all_b.sh": "more/sub/all_b.sh",
                    "all_one.sh": "single/all_one.sh"}
        saved = os.getcwd()
        os.chdir(self.tmp)
        try:
            launcher = self.make(["plugins", "./more/", "single//all_one.sh"])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                for path in expected.values():
                    self.assertTrue(capture.wait_for_message(
                        f"Runtime plugin {path} exited with code 0"))
        finally:
            os.chdir(saved)
        self.assertEqual({p.name: p.path for p in launcher.plugin_processes}, expected)
        for path in expected.values():
            self.assertIn(f"[{path}] {Path(path).stem.split('_')[1]}", capture.messages())

    def test_same_name_in_two_locations(self):
        # plughost names plugins by their path inside their location: names repeat across
        # locations, and each record must still show its own file.
        first, second = self.folder("first"), self.folder("second")
        for folder in (first, second):
            lib.write_file(folder / "all_x.sh", f"echo from {folder.name}\n")
            lib.write_file(folder / "scheduler_y.sh", "echo should-not-run\n")
        launcher = self.make([first, second])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            for folder in (first, second):
                self.assertTrue(capture.wait_for_message(
                    f"Runtime plugin {folder / 'all_x.sh'} exited with code 0"))
        messages = capture.messages()
        for folder in (first, second):
            self.assertIn(f"[{folder / 'all_x.sh'}] from {folder.name}", messages)
            self.assertIn(f"Skipping {folder / 'scheduler_y.sh'}: requires role SCHEDULER",
                          messages)
        self.assertEqual(sorted(p.path for p in launcher.plugin_processes),
                         sorted(str(f / "all_x.sh") for f in (first, second)))

    def test_configured_sinks_are_kept(self):
        # LMCache drops unknown configuration keys: plughost's own settings come from
        # PLUGHOST_SETTINGS, and the drop-in reads its records without replacing those sinks.
        folder = self.folder()
        plugin = lib.write_file(folder / "all_x.sh", "echo to both\n")
        records = self.tmp / "records.jsonl"
        settings = lib.write_file(self.tmp / "plughost.yaml",
                                  f"plughost:\n  sinks: ['jsonl:{records}']\n")
        with mock.patch.dict(os.environ, {"PLUGHOST_SETTINGS": str(settings)}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                self.assertTrue(capture.wait_for_message(
                    f"Runtime plugin {plugin} exited with code 0"))
                launcher.stop_plugins()
        self.assertIn(f"[{plugin}] to both", capture.messages())
        written = [json.loads(line) for line in records.read_text().splitlines()]
        self.assertIn("to both", [r.get("line") for r in written])
        self.assertEqual([r.getMessage() for r in capture.records if r.levelno >= logging.WARNING],
                         [])

    def test_usage_error_is_logged_and_nothing_starts(self):
        folder = self.folder()
        lib.write_file(folder / "all_x.sh", "echo should-not-run\n")
        before = lib.children_of_this_process()
        launcher = self.make([folder], worker_count=0)
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
        errors = [r.getMessage() for r in capture.records if r.levelno == logging.ERROR]
        self.assertEqual(len(errors), 1, capture.messages())
        self.assertTrue(errors[0].startswith("plughost: ") and "worker" in errors[0], errors)
        self.assertEqual(launcher.plugin_processes, [])
        if before is not None:
            self.assertEqual(lib.children_of_this_process(), before)

    def test_restarts_give_new_plugin_processes_and_events_are_logged(self):
        folder = self.folder()
        plugin = lib.write_file(folder / "all_fails.sh", "echo failing; exit 3\n")
        config = lib.MockConfig([str(folder)], text=json.dumps({"plughost": {
            "restart": "on-failure", "restart_delay": "50ms", "max_restarts": 1}}))
        launcher = self.launcher(RuntimePluginLauncher(config, "WORKER", 1, 0))
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            self.assertTrue(capture.wait_for_message(f"Runtime plugin {plugin} gave_up: "))
        processes = launcher.plugin_processes
        self.assertEqual(len(processes), 2)
        self.assertNotEqual(processes[0].pid, processes[1].pid)
        self.assertEqual([p.poll() for p in processes], [3, 3])
        self.assertEqual(capture.messages().count(f"Runtime plugin {plugin} exited with code 3"), 2)
        restarting = [r for r in capture.records
                      if r.getMessage().startswith(f"Runtime plugin {plugin} restarting: ")]
        self.assertEqual(len(restarting), 1)
        self.assertIn("attempt=1", restarting[0].getMessage())
        self.assertEqual(restarting[0].levelno, logging.INFO)
        self.assertEqual(restarting[0].plughost_record["event"], "restarting")
        gave_up = [r for r in capture.records if " gave_up: " in r.getMessage()]
        self.assertEqual([r.levelno for r in gave_up], [logging.WARNING])

    def test_terminate_stops_the_plugins_process_group(self):
        folder = self.folder()
        pids_file = self.track_pid_file(self.tmp / "pids")
        plugin = lib.write_file(folder / "all_tree.sh", textwrap.dedent(f"""\
            sleep 1000 &
            echo "$$ $!" > "{pids_file}.tmp"
            mv "{pids_file}.tmp" "{pids_file}"
            wait
            """))
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            pids = [int(p) for p in self.wait_for_file(pids_file).split()]
            process = launcher.plugin_processes[0]
            self.assertEqual(process.pid, pids[0])
            self.assertIsNone(process.poll())
            process.terminate()
            self.assertTrue(lib.wait_gone(pids), "the plugin's background child survived")
            self.assertTrue(
                capture.wait_for_message(f"Runtime plugin {plugin} exited with code -15"))
        self.assertEqual(process.poll(), -15)
        process.terminate()  # once it has exited: nothing, no error

    def test_a_plughost_killed_leaves_no_running_plugin_behind_in_the_state(self):
        folder = self.folder()
        pid_file = self.track_pid_file(self.tmp / "pid")
        plugin = lib.sleeper_plugin(folder / "all_sleep.py", pid_file)
        launcher = self.make([folder])
        with lib.captured_logs() as capture:
            launcher.launch_plugins()
            pid = int(self.wait_for_file(pid_file))
            os.kill(launcher._runs[0].proc.pid, signal.SIGKILL)
            self.assertTrue(capture.wait_for_message(
                f"Runtime plugin {plugin}: plughost ended without reporting its exit; its "
                f"guardian stops it"))
        self.assertTrue(lib.wait_gone([pid]), "the guardian did not stop the plugin")
        # Marked ended once it is gone, not before (its real status went with plughost).
        deadline = time.monotonic() + lib.HANG
        while launcher.plugin_processes[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(launcher.plugin_processes[0].poll(), -signal.SIGKILL)

    def test_a_long_stop_timeout_is_cut_short_by_stop_plugins(self):
        # LMCache gives its components 10 s to close: stop_plugins() asks plughost to kill at
        # once (a second SIGTERM) rather than leaving plugins to outlive the Python process.
        folder = self.folder()
        pid_file = self.track_pid_file(self.tmp / "pid")
        lib.write_file(folder / "all_stubborn.sh",
                       f"trap '' TERM\necho $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}\n"
                       "while :; do sleep 0.1; done\n")
        settings = lib.write_file(self.tmp / "plughost.yaml", "plughost:\n  stop_timeout: 60s\n")
        with mock.patch.dict(os.environ, {"PLUGHOST_SETTINGS": str(settings)}):
            launcher = self.make([folder])
            launcher.launch_plugins()
        pid = int(self.wait_for_file(pid_file))
        launcher.stop_plugins()
        # Generous: it only catches a plugin left for the 60 s stop timeout.
        self.assertTrue(lib.wait_gone([pid], timeout=5), "the plugin outlived stop_plugins()")

    def test_a_wrapper_leading_back_to_the_console_script_is_an_error_not_a_loop(self):
        bin_dir = self.folder("bin")
        script = lib.write_file(
            bin_dir / "plughost", f"#!{sys.executable}\nfrom plughost_lmcache._cli import main\n"
            "raise SystemExit(main())\n", mode=0o755)
        wrapper = lib.write_file(bin_dir / "wrapper.sh", f'#!/bin/sh\nexec "{script}" "$@"\n',
                                 mode=0o755)
        env = lib.python_env(PLUGHOST_BINARY=str(wrapper))
        result = subprocess.run([str(wrapper), "--version"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=lib.HANG)
        self.assertEqual(result.returncode, 127)
        self.assertIn(b"PLUGHOST_BINARY leads back to the plughost console script",
                      result.stderr)

    def test_pointing_plughost_binary_at_the_console_script_is_an_error_not_a_loop(self):
        folder = self.folder()
        lib.write_file(folder / "all_x.sh", "echo x\n")
        script = lib.write_file(
            self.tmp / "plughost", "#!/usr/bin/python3\nfrom plughost_lmcache._cli import main\n"
            "main()\n", mode=0o755)
        with mock.patch.dict(os.environ, {"PLUGHOST_BINARY": str(script)}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
        self.assertEqual(launcher.plugin_processes, [])
        self.assertIn(f"Failed to launch runtime plugins: PLUGHOST_BINARY={script} is the "
                      f"plughost console script, which runs PLUGHOST_BINARY: point it at the "
                      f"executable itself", capture.messages(logging.ERROR))

    def test_a_stop_while_launching_starts_nothing(self):
        # A stand-in whose `list` takes a while: stop_plugins() from another thread meanwhile.
        folder = self.folder()
        ran = self.tmp / "run-was-started"
        stand_in = self.stand_in("all_x.py", list_delay=1,
                                 run_body=f"open({str(ran)!r}, 'w').close()\ntime.sleep(1000)")
        with mock.patch.dict(os.environ, {"PLUGHOST_BINARY": str(stand_in)}):
            launcher = self.make([folder])
            stopper = threading.Timer(0.3, launcher.stop_plugins)
            stopper.start()
            launcher.launch_plugins()
            stopper.join()
        self.assertFalse(ran.exists(), "plughost run was started after stop_plugins()")
        self.assertEqual(launcher.plugin_processes, [])

    def test_plugins_never_reported_are_named_after_the_wait(self):
        folder = self.folder()
        stand_in = self.stand_in("all_gone.py")
        with mock.patch.dict(os.environ, {"PLUGHOST_BINARY": str(stand_in)}), \
                mock.patch.object(launcher_module, "_START_WAIT", 0.5):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
        self.assertIn("plughost has not reported these plugins after 0.5 s: all_gone.py",
                      capture.messages(logging.WARNING))

    def test_odd_records_are_logged_not_fatal(self):
        # A stand-in for plughost that prints what a reader must survive; the drop-in's reader
        # is what is tested here, not plughost.
        folder = self.folder()
        stand_in = lib.write_file(self.tmp / "fake-plughost", textwrap.dedent(f"""\
            #!{sys.executable}
            import json, sys, time
            sys.stdin.read()
            location = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--location=")][0]
            if sys.argv[1] == "list":
                print(json.dumps({{"locations": [location], "plugins": [{{
                    "name": "all_x.py", "path": location + "/all_x.py", "location": location,
                    "decision": "run", "reason": "", "runner": "python", "argv": []}}]}}))
                sys.exit(0)
            sink = [a.split("jsonl:", 1)[1] for a in sys.argv if a.startswith("--add-sink=jsonl:")]
            records = open(sink[0], "w")
            def out(**record):
                record.setdefault("plugin", "all_x.py")
                print(json.dumps(record), file=records, flush=True)
            print("not json at all", file=records, flush=True)
            print("[1, 2]", file=records, flush=True)
            out(pid=None, stream="event", event="brand_new", detail="x y", n=3)
            out(pid=999999999, stream="event", event="started", argv=["/bin/interp", "a"])
            out(pid=999999999, stream="weird")
            out(pid=999999999, stream="stdout", line="still reading", partial=True)
            print("plughost: info: an info line", file=sys.stderr, flush=True)
            print("some other line", file=sys.stderr, flush=True)
            out(pid=999999999, stream="event", event="exited", signal="SIGKILL")
            time.sleep(1000)
            """), mode=0o755)
        display = str(folder / "all_x.py")
        with mock.patch.dict(os.environ, {"PLUGHOST_BINARY": str(stand_in)}):
            launcher = self.make([folder])
            with lib.captured_logs() as capture:
                launcher.launch_plugins()
                self.assertTrue(capture.wait_for_message(
                    f"Runtime plugin {display} exited with code -9"))
                self.assertTrue(capture.wait_for_message("some other line"))
                launcher.stop_plugins()
        by_message = {r.getMessage(): r.levelno for r in capture.records}
        self.assertEqual(by_message["plughost: not a JSON record: not json at all"],
                         logging.WARNING)
        self.assertEqual(by_message["plughost: not a JSON record: [1, 2]"], logging.WARNING)
        self.assertEqual(by_message[f"Runtime plugin {display} brand_new: detail=x y n=3"],
                         logging.INFO)
        self.assertEqual(by_message[f"Launched runtime plugin: {display} with /bin/interp"],
                         logging.INFO)
        self.assertEqual(by_message[f"[{display}] still reading"], logging.INFO)
        self.assertEqual(by_message["plughost: an info line"], logging.INFO)
        self.assertEqual(by_message["some other line"], logging.WARNING)
        self.assertEqual(launcher.plugin_processes[0].poll(), -9)


class InstallTest(lib.PluginTestCase):
    """install() against a fake `lmcache` package with LMCache's module layout."""

    CHECK = """
        import json, sys
        import lmcache.v1.plugin.runtime_plugin_launcher as rpl
        import lmcache.v1.multiprocess.mp_runtime_plugin_launcher as mp
        import lmcache.v1.manager as manager
        import lmcache.v1.plugin.plugin_launcher as legacy
        print(json.dumps({
            "legacy": legacy.PluginLauncher.__module__,
            "rpl": rpl.RuntimePluginLauncher.__module__,
            "mp": mp.MPRuntimePluginLauncher.__module__,
            "mp_inner": mp.RuntimePluginLauncher.__module__,
            "manager": manager.RuntimePluginLauncher.__module__,
            "drop_in_loaded": "plughost_lmcache._launcher" in sys.modules,
        }))
        """
    REPLACED = {"legacy": "plughost_lmcache._legacy",
                "rpl": "plughost_lmcache._launcher", "mp": "plughost_lmcache._mp",
                "mp_inner": "plughost_lmcache._launcher", "manager": "plughost_lmcache._launcher",
                "drop_in_loaded": True}

    def setUp(self):
        super().setUp()
        self.fake = lib.write_fake_lmcache(self.tmp / "fake")

    def run_child(self, *pieces, **env):
        code = "\n".join(textwrap.dedent(p) for p in pieces)
        child = lib.run_python(code, env=lib.python_env(self.fake, **env))
        self.assertEqual(child.returncode, 0, child.stderr.decode())
        self.assertEqual(child.stderr, b"")
        return json.loads(child.stdout.decode().strip().splitlines()[-1])

    def test_install_after_import(self):
        result = self.run_child("""
            import sys
            import lmcache.v1.manager, lmcache.v1.multiprocess.mp_runtime_plugin_launcher
            # In a list: install() replaces the original class under any name in any module,
            # this script's globals included.
            originals = [lmcache.v1.manager.RuntimePluginLauncher]
            import plughost_lmcache
            plughost_lmcache.install()
            plughost_lmcache.install()  # idempotent
            assert not [name for name, m in list(sys.modules.items())
                        if originals[0] in list(getattr(m, "__dict__", {}).values())]
            """, self.CHECK)
        self.assertEqual(result, self.REPLACED)

    def test_install_before_import(self):
        result = self.run_child("""
            import sys
            import plughost_lmcache
            plughost_lmcache.install()
            assert "plughost_lmcache._launcher" not in sys.modules  # nothing loaded yet
            """, self.CHECK)
        self.assertEqual(result, self.REPLACED)

    def test_uninstall_puts_the_originals_back(self):
        # What install() replaced goes back; a module imported while installed bound the
        # drop-in itself and keeps it.
        result = self.run_child("""
            import lmcache.v1.manager, lmcache.v1.multiprocess.mp_runtime_plugin_launcher
            import lmcache.v1.plugin.plugin_launcher
            import plughost_lmcache
            plughost_lmcache.install()
            plughost_lmcache.uninstall()
            plughost_lmcache.uninstall()
            """, self.CHECK)
        self.assertEqual(result, {"legacy": "lmcache.v1.plugin.plugin_launcher",
                                  "rpl": "lmcache.v1.plugin.runtime_plugin_launcher",
                                  "mp": "lmcache.v1.multiprocess.mp_runtime_plugin_launcher",
                                  "mp_inner": "lmcache.v1.plugin.runtime_plugin_launcher",
                                  "manager": "lmcache.v1.plugin.runtime_plugin_launcher",
                                  "drop_in_loaded": True})

    def test_drop_in_logs_through_lmcache_logging(self):
        folder = self.folder()
        plugin = lib.write_file(folder / "all_hi.sh", "echo hi from plugin\n")
        child = lib.run_python(f"""
            import plughost_lmcache
            plughost_lmcache.install()
            from lmcache.v1.manager import RuntimePluginLauncher

            class Config:
                runtime_plugin_locations = [{str(folder)!r}]
                def to_json(self):
                    return "{{}}"

            import time
            launcher = RuntimePluginLauncher(Config(), "WORKER", 1, 0)
            launcher.launch_plugins()
            deadline = time.monotonic() + {lib.HANG}
            while launcher.plugin_processes[0].poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            launcher.stop_plugins()
            """, env=lib.python_env(self.fake))
        self.assertEqual(child.returncode, 0, child.stderr.decode())
        # The fake init_logger's format: the drop-in used lmcache.logging's logger.
        self.assertIn(f"LOG {lib.LOGGER_NAME} INFO Runtime plugin {plugin} exited with code 0",
                      child.stdout.decode())
        self.assertIn(f"LOG {lib.LOGGER_NAME} INFO [{plugin}] hi from plugin",
                      child.stdout.decode())

    def test_pth_activation_at_start_up(self):
        startup = """
            import site, sys
            site.addsitedir({package!r})
            """.format(package=str(lib.PACKAGE_DIR))
        for value in ("1", "TRUE", "yes"):
            with self.subTest(PLUGHOST_LMCACHE=value):
                result = self.run_child(startup, self.CHECK, PLUGHOST_LMCACHE=value)
                self.assertEqual(result, self.REPLACED)
        for value in (None, "0", ""):
            with self.subTest(PLUGHOST_LMCACHE=value):
                result = self.run_child(startup, """
                    assert "plughost_lmcache" in sys.modules  # the .pth line ran
                    assert "plughost_lmcache._install" not in sys.modules
                    """, self.CHECK, PLUGHOST_LMCACHE=value)
                self.assertEqual(result["manager"], "lmcache.v1.plugin.runtime_plugin_launcher")
                self.assertEqual(result["mp"], "lmcache.v1.multiprocess.mp_runtime_plugin_launcher")
                self.assertFalse(result["drop_in_loaded"])


if __name__ == "__main__":
    unittest.main()
