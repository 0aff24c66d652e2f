"""SIGKILL to the Python process using the drop-in: plughost, plugins and their children go."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402

# The spec: everything is gone within 2 s of the parent's death (plughost's --exit-with-parent:
# the stop signal, then SIGKILL after at most 1 s).
DEADLINE = 2.0


class ParentDeathTest(lib.PluginTestCase):
    def setUp(self):
        super().setUp()
        self.parent = None
        self.addCleanup(self._kill_parent)

    def _kill_parent(self):
        if self.parent is not None and self.parent.poll() is None:
            lib.kill_quietly(self.parent.pid, group=True)
            self.parent.wait(timeout=lib.HANG)

    def test_sigkill_of_the_python_parent_stops_everything(self):
        folder = self.folder()
        pids_file = self.track_pid_file(self.tmp / "pids")
        lib.write_file(folder / "all_tree.sh", textwrap.dedent(f"""\
            #!/bin/bash
            sleep 1000 &
            echo "$$ $! $PLUGHOST_HOST_PID" > "{pids_file}.tmp"
            mv "{pids_file}.tmp" "{pids_file}"
            while true; do sleep 1; done
            """))
        script = textwrap.dedent(f"""
            import time
            from plughost_lmcache import RuntimePluginLauncher

            class Config:
                runtime_plugin_locations = [{str(folder)!r}]
                def to_json(self):
                    return "{{}}"

            RuntimePluginLauncher(Config(), "WORKER", 1, 0).launch_plugins()
            while True:
                time.sleep(1000)
            """)
        # Its own process group, so that the clean-up reaches plughost too should a check fail.
        self.parent = subprocess.Popen([sys.executable, "-c", script], env=lib.python_env(),
                                       start_new_session=True)
        fields = self.wait_for_file(pids_file).split()
        self.assertEqual(len(fields), 3, fields)
        plugin, grandchild, host = (int(f) for f in fields)
        watched = [plugin, grandchild, host]
        self.assertFalse([p for p in watched if lib.pid_gone(p)], "not all running before the kill")

        os.kill(self.parent.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        self.parent.wait(timeout=lib.HANG)

        left = watched
        while time.monotonic() - killed_at < DEADLINE:
            left = [p for p in watched if not lib.pid_gone(p)]
            left += [p for p in lib.processes_mentioning(str(self.tmp)) if p not in left]
            if not left:
                break
            time.sleep(0.05)
        self.assertEqual(left, [], f"still running {DEADLINE} s after the parent was killed "
                                   f"(plugin {plugin}, its child {grandchild}, plughost {host})")


if __name__ == "__main__":
    unittest.main()
