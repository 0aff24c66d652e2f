"""Helpers for the plughost_lmcache tests: paths, plugins on disk, log capture, process checks."""

import contextlib
import logging
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

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("PLUGHOST_SOURCE_DIR") or HERE.parents[2])
BUILD_DIR = Path(os.environ.get("PLUGHOST_BUILD_DIR") or SOURCE_DIR / "build")
PACKAGE_DIR = SOURCE_DIR / "packaging" / "python"
# Plugins of the no-self-start test exec it, and the drop-in reads it: set it once for both.
os.environ.setdefault("PLUGHOST_BINARY", str(BUILD_DIR / "plughost"))
BINARY = os.environ["PLUGHOST_BINARY"]
if str(PACKAGE_DIR) not in sys.path:
    sys.path.insert(0, str(PACKAGE_DIR))

LOGGER_NAME = "lmcache.v1.plugin.runtime_plugin_launcher"
STDERR_LOGGER_NAME = LOGGER_NAME + ".stderr"
MP_LOGGER_NAME = "lmcache.v1.multiprocess.mp_runtime_plugin_launcher"

def sanitizer_build():
    """The sanitizer runtime the plughost under test loads (libasan, libtsan), or None: such a
    build's wheel bundles it, needs glibc 2.36 and is no product."""
    needed = subprocess.run(["objdump", "-p", BINARY], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, timeout=60).stdout.decode()
    found = re.search(r"NEEDED\s+(lib[a-z]*san)\.", needed)
    return found.group(1) if found else None


# Bounds that only catch hangs: nothing here takes more than a fraction of them.
HANG = 30.0


class MockConfig:
    """LMCache's tests' MockConfig: what the launcher reads from LMCache's configuration."""

    def __init__(self, runtime_plugin_locations=None, text='{"test": "config"}'):
        self.runtime_plugin_locations = runtime_plugin_locations or []
        self._text = text

    def to_json(self):
        return self._text


class LogCapture(logging.Handler):
    """Every record that reaches the named loggers (children propagate to it), kept in order."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level=None, name=None):
        return [r.getMessage() for r in list(self.records)
                if (level is None or r.levelno == level) and (name is None or r.name == name)]

    def wait_for(self, predicate, timeout=HANG):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def wait_for_message(self, text, timeout=HANG):
        return self.wait_for(lambda c: any(text in m for m in c.messages()), timeout)


@contextlib.contextmanager
def captured_logs(*names):
    names = names or (LOGGER_NAME,)
    capture = LogCapture()
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger, level in saved:
            logger.removeHandler(capture)
            logger.setLevel(level)


def write_file(path, text, mode=0o644):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def pid_gone(pid):
    """True when no process has this pid, or only a zombie (it no longer runs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    # The state follows the parenthesised command name, which may itself hold ')'.
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] == b"Z"


def wait_gone(pids, timeout=HANG):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(pid_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return all(pid_gone(p) for p in pids)


def processes_mentioning(text):
    """Live (non-zombie) processes whose command line contains `text`, except this one."""
    found = []
    needle = os.fsencode(text)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and not pid_gone(int(entry)):
            found.append(int(entry))
    return found


def kill_quietly(pid, group=False):
    try:
        os.kill(-pid if group else pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def children_of_this_process():
    """The pids of this process's children (all threads), or None where the kernel cannot say."""
    found = set()
    try:
        tasks = os.listdir(f"/proc/{os.getpid()}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            return None
        except OSError:
            continue
    return found


def write_fake_lmcache(root):
    """A minimal `lmcache` package with LMCache's module layout and its own launcher classes."""
    root = Path(root)
    files = {
        "lmcache/__init__.py": "",
        "lmcache/logging.py": """
            import logging
            import sys


            def init_logger(name):
                logger = logging.getLogger(name)
                logger.handlers.clear()
                logger.propagate = False
                handler = logging.StreamHandler(sys.stdout)
                handler.setFormatter(logging.Formatter("LOG %(name)s %(levelname)s %(message)s"))
                logger.addHandler(handler)
                logger.setLevel(logging.INFO)
                return logger
            """,
        "lmcache/v1/__init__.py": "",
        "lmcache/v1/plugin/__init__.py": "",
        # LMCache's module imports these, and its tests patch them through it.
        "lmcache/v1/plugin/runtime_plugin_launcher.py": """
            import atexit
            import os
            import shutil
            import subprocess
            import threading

            from lmcache.logging import init_logger

            logger = init_logger(__name__)


            class RuntimePluginLauncher:
                ORIGINAL = True

                def __init__(self, config, role, worker_count, worker_id):
                    self.config = config
                    self.plugin_processes = []

                def launch_plugins(self):
                    logger.info("the original launcher ran")

                def stop_plugins(self):
                    pass
            """,
        "lmcache/v1/plugin/plugin_launcher.py": """
            import atexit
            import os
            import subprocess
            import threading

            from lmcache.logging import init_logger

            logger = init_logger(__name__)


            class PluginLauncher:
                ORIGINAL = True

                def __init__(self, config, role, worker_id):
                    self.config = config
                    self.plugin_processes = []

                def launch_plugins(self):
                    logger.info("the original launcher ran")

                def stop_plugins(self):
                    pass
            """,
        "lmcache/v1/multiprocess/__init__.py": "",
        "lmcache/v1/multiprocess/mp_runtime_plugin_launcher.py": """
            from lmcache.logging import init_logger
            from lmcache.v1.plugin.runtime_plugin_launcher import RuntimePluginLauncher

            logger = init_logger(__name__)


            class MPRuntimePluginLauncher:
                ORIGINAL = True

                def __init__(self, runtime_plugin_config, **configs):
                    self._inner = RuntimePluginLauncher(None, None, 1, 0)
            """,
        "lmcache/v1/manager.py": """
            from lmcache.v1.plugin.runtime_plugin_launcher import RuntimePluginLauncher
            """,
    }
    for relative, text in files.items():
        write_file(root / relative, textwrap.dedent(text).lstrip("\n"))
    return root


class PluginTestCase(unittest.TestCase):
    """A temporary folder per test, and every launcher and process it started stopped after it."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="plughost-py-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self._launchers = []
        self._pid_files = []
        self.addCleanup(self._clean_processes)

    def launcher(self, launcher):
        self._launchers.append(launcher)
        return launcher

    def track_pid_file(self, path):
        self._pid_files.append(Path(path))
        return path

    def _clean_processes(self):
        for launcher in self._launchers:
            launcher.stop_plugins()
        for path in self._pid_files:
            try:
                pids = [int(p) for p in path.read_text().split()]
            except (OSError, ValueError):
                continue
            for pid in pids:
                kill_quietly(pid, group=True)
                kill_quietly(pid)
        # Anything still running from this test's folder (plughost, plugins) goes too.
        for pid in processes_mentioning(str(self.tmp)):
            kill_quietly(pid)

    def folder(self, name="plugins"):
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def wait_for_file(self, path, timeout=HANG):
        deadline = time.monotonic() + timeout
        path = Path(path)
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 0:
                return path.read_bytes()
            time.sleep(0.05)
        self.fail(f"{path} was not written within {timeout} s")


def run_python(code, env=None, timeout=120, **kwargs):
    """Runs `python3 -c code` (this interpreter) and returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          **kwargs)


def python_env(*paths, **extra):
    """This environment with PYTHONPATH = the given folders + the package, plus `extra`."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + [str(PACKAGE_DIR)])
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def sleeper_plugin(path, pid_file):
    """A Python plugin that writes its pid to `pid_file` (atomically) and then sleeps."""
    return write_file(path, textwrap.dedent(f"""\
        #!/usr/bin/env python3
        import os
        import time

        with open({str(pid_file) + '.tmp'!r}, "w") as f:
            f.write(str(os.getpid()))
        os.rename({str(pid_file) + '.tmp'!r}, {str(pid_file)!r})
        print("sleeping", flush=True)
        while True:
            time.sleep(1000)
        """))
