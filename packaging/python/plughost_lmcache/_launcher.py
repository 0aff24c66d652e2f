"""The drop-in RuntimePluginLauncher: LMCache's API and log lines, plughost doing the work."""

import atexit
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

LOGGER_NAME = "lmcache.v1.plugin.runtime_plugin_launcher"
STDERR_LOGGER_NAME = LOGGER_NAME + ".stderr"

# launch_plugins() returns when every plugin has started (or was skipped or failed); a plugin that
# never shows up (a file removed between `list` and `run`) must not hang LMCache's start-up.
_START_WAIT = 10.0
# `list` only reads folders and first lines; the bound only catches a hung file system.
_LIST_TIMEOUT = 60.0
# plughost gives plugins their stop timeout (5 s by default) before SIGKILL, then exits. A
# second SIGTERM (plughost takes one more than a second after the first as "kill now") cuts a
# longer stop timeout short, so that a stop ends within LMCache's 10 s for closing components.
_STOP_WAIT = 7.0
_KILL_NOW_WAIT = 2.0
_JOIN_WAIT = 1.0
# After plughost is killed, its guardian stops the plugins within their stop timeout: how long
# the reader watches for them to go, to mark them ended.
_GUARDIAN_WAIT = 120.0

# plughost's identity comes from these when no flag is given; the launcher's own attributes must
# win (role None means no role, whatever the parent process inherited).
_IDENTITY_SUFFIXES = ("ROLE", "WORKER_ID", "WORKER_COUNT", "CONFIG")
_IDENTITY_VARIABLES = tuple(
    prefix + suffix
    for prefix in ("LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_")
    for suffix in _IDENTITY_SUFFIXES
)

_HOST_LINE = re.compile(r"plughost: (warning|error|info): (.*)", re.DOTALL)
_REQUIRES_ROLE = re.compile(r"requires role (.+)", re.DOTALL)
_ONLY_FOR_WORKER = re.compile(r"only for worker (-?[0-9]+)")
# Events that mean a plugin is in trouble; the others are routine.
_EVENT_LEVELS = {
    "gave_up": logging.WARNING,
    "killed": logging.WARNING,
    "timed_out": logging.WARNING,
}
_RECORD_KEYS = ("ts", "plugin", "pid", "stream", "event")
# Stops plughost makes when asked to end: routine, so only logged at DEBUG.
_QUIET_STOPS = ("shutdown", "parent exited")

_logger_lock = threading.Lock()
_loggers = {}


def get_logger(name):
    """The logger LMCache's own module would use under `name`, created on first use.

    Created lazily so that importing this package (at interpreter start-up, through the .pth)
    never imports lmcache. A logger that already has handlers (LMCache's module ran
    init_logger, or the application configured it) is left as it is: init_logger would clear
    them.
    """
    with _logger_lock:
        logger = _loggers.get(name)
        if logger is not None:
            return logger
        logger = logging.getLogger(name)
        if not logger.handlers:
            try:
                from lmcache.logging import init_logger
            except Exception:  # no LMCache here (or a broken one): plain library logging
                init_logger = None
            if init_logger is not None:
                logger = init_logger(name)
        _loggers[name] = logger
        return logger


def lmcache_logger(module_name):
    """The logger of LMCache's module `module_name` as that module holds it now, else ours.

    Looked up at each message, as LMCache's own code reads its module's `logger`: a test or an
    operator that replaces it (unittest.mock.patch of ...runtime_plugin_launcher.logger) gets
    the drop-in's messages too.
    """
    module = sys.modules.get(module_name)
    logger = getattr(module, "logger", None) if module is not None else None
    if logger is not None and callable(getattr(logger, "log", None)):
        return logger
    return get_logger(module_name)


def role_name(role):
    """The role plugins' names are matched against: a string as it is, an enum by its name.

    vLLM's in-tree integration hands LMCache a KVConnectorRole member; LMCache's launchers of
    that time compared `role.name`. An empty string is no role for plughost.
    """
    if role is None or isinstance(role, str):
        return role
    name = getattr(role, "name", None)
    return name if isinstance(name, str) else str(role)


def should_skip(role, worker_id, parts):
    """plughost's naming rules (docs/discovery-naming-interpreters.md, section 4) on a name's parts.

    Returns None when the plugin runs, else ("role", PART1) or ("worker", N).
    """
    if len(parts) < 2:
        return None
    wanted = role_name(role)
    if not wanted:  # no role: no filtering at all, as LMCache's multiprocess mode
        return None
    first = _ascii_upper(str(parts[0]))
    if first != "ALL" and first != _ascii_upper(wanted):
        return ("role", first)
    second = str(parts[1])
    if len(parts) > 2 and second and all("0" <= c <= "9" for c in second):
        if int(second) != worker_id:
            return ("worker", int(second))
    return None


def _ascii_upper(text):
    # plughost folds ASCII only: no Unicode table changes a decision.
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def _is_console_script(path):
    # pip's `plughost` console script execs binary_path(); taking it for the binary would make
    # the script exec itself forever.
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b"plughost_lmcache" in head


def binary_path():
    """The plughost executable: $PLUGHOST_BINARY, the wheel's bundled one, or plughost on PATH."""
    configured = os.environ.get("PLUGHOST_BINARY")
    if configured:
        if os.sep not in configured:  # a name: looked up on PATH, as exec would not
            configured = shutil.which(configured) or configured
        if _is_console_script(configured):
            raise FileNotFoundError(
                f"PLUGHOST_BINARY={configured} is the plughost console script, which runs "
                f"PLUGHOST_BINARY: point it at the executable itself")
        return configured
    bundled = Path(__file__).resolve().parent / "_root" / "bin" / "plughost"
    if bundled.is_file():
        return str(bundled)
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        found = shutil.which("plughost", path=folder or os.curdir)
        if found and not _is_console_script(found):
            return found
    raise FileNotFoundError(
        "plughost executable not found: set PLUGHOST_BINARY, install the plughost wheel "
        "(which bundles it), or put plughost on PATH")


def _runner_arguments():
    value = os.environ.get("PLUGHOST_RUNNERS", "").strip()
    if value.lower() == "all":
        return []
    names = [n.strip() for n in value.split(",") if n.strip()] or ["python", "bash"]
    return ["--runner=" + n for n in names]


def _plughost_environment():
    env = os.environ.copy()
    for name in _IDENTITY_VARIABLES:
        env.pop(name, None)
    return env


def _field_text(value):
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _unclaimed(entry):
    # A file no runner in use claims (plughost's `ignored`, or an `error` naming the runners).
    return (entry.get("decision") in ("ignored", "error") and not entry.get("runner")
            and "claims" in str(entry.get("reason", "")))


def _unsupported_message(path):
    # LMCache's words, trailing space included.
    return f"Plugin type {path.suffix} not supported "


def _signal_number(name):
    try:
        return int(getattr(signal, name))
    except (AttributeError, TypeError, ValueError):
        return None


def _mark_ended_when_gone(processes, timeout=_GUARDIAN_WAIT):
    """Sets returncode (-SIGKILL: the real status went with plughost) once each pid is gone."""
    deadline = time.monotonic() + timeout
    while processes and time.monotonic() < deadline:
        for process in list(processes):
            try:
                os.kill(process.pid, 0)
                with open(f"/proc/{process.pid}/stat", "rb") as f:
                    gone = f.read().rsplit(b")", 1)[-1].split()[0] in (b"Z", b"X")
            except (OSError, IndexError):
                gone = True
            if gone:
                process.returncode = -signal.SIGKILL
                processes.remove(process)
        time.sleep(0.05)


class PluginProcess:
    """One run of one plugin, as plughost reported it: the part of subprocess.Popen LMCache uses."""

    def __init__(self, name, path, pid, args):
        self.name = name
        self.path = path
        self.pid = pid
        self.args = args
        self.returncode = None

    def poll(self):
        return self.returncode

    def terminate(self):
        if self.returncode is not None or not isinstance(self.pid, int) or self.pid <= 0:
            return
        # The plugin leads its own process group: its background children get the signal too.
        try:
            os.kill(-self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def __repr__(self):
        return "PluginProcess(name=%r, path=%r, pid=%r, returncode=%r)" % (
            self.name, self.path, self.pid, self.returncode)


class _Plan:
    """What `plughost list` said, with each plugin's path as LMCache would print it."""

    def __init__(self, listing, caller_locations):
        self.caller_locations = caller_locations
        absolute = listing.get("locations") or []
        self._caller_of = {}
        for index, location in enumerate(absolute):
            if index < len(caller_locations) and isinstance(location, str):
                self._caller_of.setdefault(location, caller_locations[index])
        self.entries = [e for e in listing.get("plugins") or [] if isinstance(e, dict)]
        # Configured files (not found in folders) that no runner in use claims: LMCache would
        # try them and fail.
        self.unclaimed = {e.get("name") for e in self.entries
                          if _unclaimed(e) and e.get("location") == e.get("path")}
        self._by_name = {}
        for entry in self.entries:
            entry["_display"] = self._display_of(entry)
            self._by_name.setdefault(entry.get("name"), []).append(entry)

    def _display_of(self, entry):
        name, path, location = entry.get("name"), entry.get("path"), entry.get("location")
        caller = self._caller_of.get(location)
        if caller is None:
            return path or self.fallback_display(name)
        if location == path:
            return str(Path(caller))
        # The path inside its location, not the name: a name repeated across locations gets a
        # "#2" suffix from plughost.
        try:
            return str(Path(caller) / Path(path).relative_to(location))
        except (TypeError, ValueError):
            return str(Path(caller) / name)

    def fallback_display(self, name):
        # A plugin `run` found that `list` did not (a file added in between).
        name = str(name)
        if len(self.caller_locations) == 1 and Path(self.caller_locations[0]).is_dir():
            return str(Path(self.caller_locations[0]) / name)
        return name

    def display(self, name, argv=None, decisions=None):
        """The path to show for a record of plugin `name` (names repeat across locations)."""
        candidates = self._by_name.get(name)
        if not candidates:
            return self.fallback_display(name)
        if len(candidates) > 1 and argv:
            for entry in candidates:
                if entry.get("path") in argv:
                    return entry["_display"]
        if len(candidates) > 1 and decisions:
            # Records without a process (skipped, error) come in plan order: each one takes
            # the next entry it can be.
            for entry in candidates:
                if entry.get("decision") in decisions and not entry.get("_reported"):
                    entry["_reported"] = True
                    return entry["_display"]
        return candidates[0]["_display"]


class _Run:
    """One `plughost run` process and the threads that read it."""

    def __init__(self, proc, plan, pending, records):
        self.proc = proc
        self.records = records  # the read end of the pipe plughost writes its records to
        self.plan = plan
        self.pending = pending
        self.cond = threading.Condition()
        self.output_ended = False
        self.stopping = False
        self.threads = []
        self.display_of_pid = {}
        self.process_of_pid = {}

    def note_first_record(self, name):
        with self.cond:
            if self.pending.get(name, 0) > 0:
                self.pending[name] -= 1
                self.cond.notify_all()

    def wait_started(self, timeout):
        """Waits for every plugin's first record; returns the names still missing."""
        with self.cond:
            self.cond.wait_for(
                lambda: self.output_ended or sum(self.pending.values()) == 0, timeout)
            if self.output_ended:
                return []
            return [name for name, count in self.pending.items() if count > 0]

    def stop(self):
        self.stopping = True
        proc = self.proc
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=_STOP_WAIT)
            except subprocess.TimeoutExpired:
                try:
                    proc.send_signal(signal.SIGTERM)  # kill the plugins now
                    proc.wait(timeout=_KILL_NOW_WAIT)
                except subprocess.TimeoutExpired:
                    proc.kill()  # its guardian still stops the plugins' groups
                    proc.wait(timeout=_KILL_NOW_WAIT)
        current = threading.current_thread()
        for thread in self.threads:
            if thread is not current:
                thread.join(_JOIN_WAIT)


class RuntimePluginLauncher:
    """LMCache's RuntimePluginLauncher: same constructor and attributes; plughost runs plugins."""

    # The LMCache module whose logger the messages go through, and its messages' templates
    # (LMCache's words and argument order: handlers and tests read record.args).
    _MODULE = LOGGER_NAME
    _LOCATIONS_KEY = "runtime_plugin_locations"
    _MESSAGES = {
        "missing": "Runtime plugin location %s does not exist",
        "launched": "Launched runtime plugin: %s with %s",
        "exited": "Runtime plugin %s exited with code %d",
        "worker": "worker %d is skipping plugin %s, which is only for worker ID %d",
        "noun": "Runtime plugin",
    }
    # The identity variables plugins receive (plughost sets all eight unless told otherwise).
    _VARIABLE_PREFIXES = ("LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_")

    def __init__(self, config, role, worker_count, worker_id):
        self.config = config
        self.role = role
        self.worker_count = worker_count
        self.worker_id = worker_id
        self.plugin_processes = []
        self._runs = []
        self._stop_requested = False
        atexit.register(self.stop_plugins)

    @property
    def _logger(self):
        return lmcache_logger(self._MODULE)

    @property
    def _stderr_logger(self):
        return logging.getLogger(self._MODULE + ".stderr")

    def _configured_locations(self):
        return self.config.runtime_plugin_locations

    # -- LMCache's two private decisions, made as plughost makes them -----------------------

    def _should_skip_plugin(self, file, parts):
        """Whether plughost skips a plugin whose name splits into `parts`; logs why, as LMCache.

        plughost's rules: ASCII case folding, an empty role is no role, an enum role is matched
        by its name (docs/lmcache.md).
        """
        decision = should_skip(self.role, self.worker_id, list(parts))
        if decision is None:
            return False
        if decision[0] == "role":
            self._logger.info("Skipping %s: requires role %s", file, decision[1])
        else:
            self._log_skip_worker(file, decision[1])
        return True

    def _get_interpreter(self, file):
        """The program plughost would run `file` with (argv[0] of its plan), as a string.

        Asks the plughost binary (`plughost list` on that one file, no role): the shebang read
        as the kernel reads it, then python3, python or bash on PATH. Raises ValueError as
        LMCache does: "Plugin type <suffix> not supported " for a file no runner in use claims,
        plughost's reason when no interpreter is found.
        """
        entry = self._plan_file(Path(file))
        if entry.get("decision") == "run" and entry.get("argv"):
            return str(entry["argv"][0])
        if _unclaimed(entry):
            raise ValueError(_unsupported_message(Path(file)))
        raise ValueError(f"No valid interpreter found for {file}: {entry.get('reason', '')}")

    def _plan_file(self, file):
        listed = subprocess.run(
            [binary_path(), "list", "--json", f"--location={file}", "--role=none",
             "--config-json={}"] + _runner_arguments(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_plughost_environment(),
            close_fds=True, timeout=_LIST_TIMEOUT)
        try:
            entries = json.loads(listed.stdout.decode("utf-8", "replace")).get("plugins") or []
        except (ValueError, AttributeError):
            entries = []
        if not entries:
            why = listed.stderr.decode("utf-8", "replace").strip()
            raise ValueError(f"plughost cannot plan {file}: {why or 'no answer'}")
        return entries[0]

    def _log_skip_worker(self, display, wanted, extra=None):
        self._logger.info(self._MESSAGES["worker"], self.worker_id, display, wanted,
                          extra=extra)

    def _report_unclaimed(self, plan):
        """A configured file that no runner in use claims: LMCache's skip or failure line."""
        for entry in plan.entries:
            # The configured file itself, not a file of that name found in a folder (silent, as
            # LMCache's rglob never finds it).
            if not (_unclaimed(entry) and entry.get("location") == entry.get("path")):
                continue
            display = entry["_display"]
            path = Path(entry.get("path") or display)
            if self._should_skip_plugin(display, path.stem.lower().split("_")):
                continue
            self._logger.error("Failed to launch plugin %s: %s", display,
                               ValueError(_unsupported_message(path)))

    # -- launching -------------------------------------------------------------------------

    def launch_plugins(self):
        """Launch all configured plugins."""
        self._stop_requested = False
        configured = self._configured_locations()
        if not configured:
            return
        if isinstance(configured, (str, bytes, os.PathLike)):
            # LMCache would iterate over the characters: "/opt/p" would run every plugin under
            # "/" (its first character). One path is what was meant.
            self._logger.warning(
                "%s is one path, not a list: taking %r as the only location",
                self._LOCATIONS_KEY, configured)
            configured = [os.fsdecode(configured)]
        locations = []
        for loc in configured:
            if not Path(loc).exists():
                self._logger.warning(self._MESSAGES["missing"], loc)
                continue
            locations.append(loc)
        if not locations:
            return
        try:
            self._launch(locations)
        except Exception as e:  # LMCache's launcher never lets a plugin problem stop LMCache
            self._logger.error("Failed to launch runtime plugins: %s", e)

    def _common_arguments(self, locations):
        # `--flag=value` throughout: a value starting with '-' (worker id -1, an odd path) is
        # never taken for an option.
        args = ["--location=" + str(Path(loc)) for loc in locations]
        if self.role is not None:
            args.append(f"--role={role_name(self.role)}")
        args.append(f"--worker-id={self.worker_id}")
        args.append(f"--worker-count={self.worker_count}")
        args += _runner_arguments()
        # The configuration goes through stdin: /proc/<pid>/cmdline is world-readable and
        # LMCache configurations can hold credentials.
        args.append("--config-json=-")
        return args

    def _variable_arguments(self):
        """--plugin-variable flags: what differs from plughost's eight identity variables."""
        args = []
        role_text = self._role_text()
        for prefix in ("LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"):
            if prefix not in self._VARIABLE_PREFIXES:
                args += [f"--plugin-variable={prefix}{suffix}" for suffix in _IDENTITY_SUFFIXES]
            elif role_text is not None:
                args.append(f"--plugin-variable={prefix}ROLE={role_text}")
        return args

    def _role_text(self):
        # The role variables' text when it is not the role plughost filters on: str(role) for
        # an enum, as LMCache's launchers of the enum era wrote it.
        if self.role is None or isinstance(self.role, str):
            return None
        return str(self.role)

    def _launch(self, locations):
        config_json = self.config.to_json()
        if not isinstance(config_json, str):
            raise TypeError(f"config.to_json() returned {type(config_json).__name__}, not str")
        # Encoded as os.environ would encode it, so plugins get the bytes LMCache's would.
        config_bytes = os.fsencode(config_json)
        binary = binary_path()
        common = self._common_arguments(locations)
        env = _plughost_environment()

        listed = subprocess.run(
            [binary, "list", "--json"] + common, input=config_bytes, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, close_fds=True, timeout=_LIST_TIMEOUT)
        host_lines = listed.stderr.decode("utf-8", "replace").splitlines()
        # 1: a plugin cannot run (decision "error"); the listing is whole and the others run,
        # as LMCache's launcher starts the plugins it can.
        if listed.returncode not in (0, 1):
            logged_error = False
            for line in host_lines:
                logged_error |= self._log_host_line(line) == logging.ERROR
            if not logged_error:
                self._logger.error(
                    "Failed to launch runtime plugins: plughost list exited with code %d",
                    listed.returncode)
            return
        listing = json.loads(listed.stdout.decode("utf-8", "replace"))
        if not isinstance(listing, dict):
            raise ValueError("plughost list --json did not print an object")
        plan = _Plan(listing, locations)
        self._report_unclaimed(plan)

        if not any(e.get("decision") in ("run", "error") and e.get("name") not in plan.unclaimed
                   for e in plan.entries):
            # Nothing to supervise: no process is kept, as with LMCache. `run` would have
            # repeated list's warnings; here they are only said once.
            for line in host_lines:
                self._log_host_line(line)
            for entry in plan.entries:
                if entry.get("decision") == "skip":
                    record = {"plugin": entry.get("name"), "pid": None, "stream": "event",
                              "event": "skipped", "reason": entry.get("reason", "")}
                    self._log_skip(entry["_display"], record)
            return

        if self._stop_requested:  # stop_plugins() ran from another thread meanwhile
            return
        pending = Counter(e.get("name") for e in plan.entries
                          if e.get("decision") in ("run", "error", "skip")
                          and e.get("name") not in plan.unclaimed)
        # Spawned from the calling thread, in this process's session and group: plughost's
        # --exit-with-parent watches this pid, and nothing here outlives it. --add-sink keeps
        # the sinks the operator configured (PLUGHOST_SETTINGS) besides the records read here,
        # which come on a pipe of their own: plughost's stdout stays this process's, for a
        # configured stdout sink.
        records_read, records_write = os.pipe()
        try:
            proc = subprocess.Popen(
                [binary, "run"] + common
                + self._variable_arguments()
                + ["--allow-missing-locations",  # LMCache warns and starts the others
                   f"--add-sink=jsonl:/dev/fd/{records_write}",
                   f"--exit-with-parent={os.getpid()}"],
                stdin=subprocess.PIPE, stdout=None, stderr=subprocess.PIPE, env=env,
                close_fds=True, pass_fds=(records_write,), start_new_session=False)
        except BaseException:
            os.close(records_read)
            raise
        finally:
            os.close(records_write)
        run = _Run(proc, plan, pending, os.fdopen(records_read, "rb"))
        self._runs.append(run)
        if self._stop_requested:  # stop_plugins() may have looked at _runs just before
            run.stop_later = True
        for target, label in ((self._read_records, "records"), (self._read_host_lines, "stderr")):
            thread = threading.Thread(target=target, args=(run,), daemon=True,
                                      name=f"plughost-{label}-{proc.pid}")
            run.threads.append(thread)
            thread.start()
        try:
            proc.stdin.write(config_bytes)
            proc.stdin.close()
        except OSError:  # plughost exited before reading: its stderr says why
            pass
        missing = run.wait_started(_START_WAIT)
        if missing:
            self._logger.warning(
                "plughost has not reported these plugins after %g s: %s", _START_WAIT,
                ", ".join(sorted(str(name) for name in missing)))
        if getattr(run, "stop_later", False):
            run.stop()

    # -- reading plughost ------------------------------------------------------------------

    def _read_records(self, run):
        try:
            for raw in run.records:
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                if not isinstance(record, dict):
                    self._logger.warning("plughost: not a JSON record: %s", text)
                    continue
                try:
                    self._handle_record(run, record)
                except Exception as e:  # one odd record must not end the reading
                    self._logger.warning("plughost: could not handle record %s: %s", text, e)
        except Exception:
            pass
        finally:
            try:
                run.records.close()
            except Exception:
                pass
            with run.cond:
                run.output_ended = True
                run.cond.notify_all()
            try:
                code = run.proc.wait()
                if not run.stopping and (code < 0 or code > 2):
                    self._logger.warning("plughost: exited with code %s", code)
                # plughost ended without an exit record for these (it was killed): its
                # guardian stops their process groups. They are not running any more, and
                # terminate() must not signal a group id that may be reused.
                left = [p for p in run.process_of_pid.values() if p.returncode is None]
                for process in left:
                    self._logger.warning(
                        "%s %s: plughost ended without reporting its exit; its guardian stops "
                        "it", self._MESSAGES["noun"], process.path)
                _mark_ended_when_gone(left)
            except Exception:
                pass

    def _read_host_lines(self, run):
        try:
            for raw in run.proc.stderr:
                self._log_host_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except Exception:
            pass

    def _log_host_line(self, line):
        if not line.strip():
            return None
        match = _HOST_LINE.fullmatch(line)
        if match is None:
            level = logging.WARNING
            message = line
        else:
            level = {"warning": logging.WARNING, "error": logging.ERROR,
                     "info": logging.INFO}[match.group(1)]
            message = "plughost: " + match.group(2)
        if "--runner" in message and os.environ.get("PLUGHOST_RUNNERS", "").strip():
            # The drop-in made those flags: name what the operator wrote.
            message += f" (from PLUGHOST_RUNNERS={os.environ['PLUGHOST_RUNNERS']})"
        self._logger.log(level, message)
        return level

    def _handle_record(self, run, record):
        name = record.get("plugin")
        pid = record.get("pid")
        stream = record.get("stream")
        event = record.get("event")
        argv = record.get("argv") if isinstance(record.get("argv"), list) else None
        display = run.display_of_pid.get(pid) if pid is not None else None
        if display is None:
            decisions = {"skipped": ("skip",), "error": ("error", "run")}.get(event)
            display = run.plan.display(name, argv, decisions if pid is None else None)
        extra = {"plughost_plugin": name, "plughost_stream": stream, "plughost_pid": pid,
                 "plughost_record": record}

        if stream in ("stdout", "stderr"):
            line = record.get("line", "")
            if not isinstance(line, str):
                line = _field_text(line)
            logger = self._logger if stream == "stdout" else self._stderr_logger
            logger.info("[%s] %s", display, line.strip(), extra=extra)
            return

        if event == "started":
            argv = argv or []
            process = PluginProcess(name, display, pid, list(argv))
            if pid is not None:
                run.display_of_pid[pid] = display
                run.process_of_pid[pid] = process
            self.plugin_processes.append(process)
            interpreter = argv[0] if argv else None
            self._logger.info(self._MESSAGES["launched"], display, interpreter, extra=extra)
        elif event == "exited":
            code = record.get("exit_code")
            if not isinstance(code, int):
                number = _signal_number(record.get("signal"))
                code = -number if number is not None else record.get("signal")
            process = run.process_of_pid.get(pid)
            if process is not None:
                process.returncode = code if isinstance(code, int) else -1
            template = self._MESSAGES["exited"]
            if not isinstance(code, int):
                template = template.replace("%d", "%s")
            self._logger.info(template, display, code, extra=extra)
        elif event == "skipped":
            self._log_skip(display, record)
        elif event == "error":
            message = record.get("message", "")
            if name in run.plan.unclaimed:  # reported as LMCache words it, after list
                run.note_first_record(name)
                return
            self._logger.error("Failed to launch plugin %s: %s", display, message, extra=extra)
        else:
            fields = " ".join(f"{key}={_field_text(value)}" for key, value in record.items()
                              if key not in _RECORD_KEYS)
            level = _EVENT_LEVELS.get(event, logging.INFO)
            if event == "stopping" and (run.stopping or record.get("reason") in _QUIET_STOPS):
                # LMCache says nothing when it stops its plugins: the exits are enough.
                level = logging.DEBUG
            self._logger.log(level, "%s %s %s: %s", self._MESSAGES["noun"], display, event,
                             fields, extra=extra)

        if event in ("started", "error", "skipped"):
            run.note_first_record(name)

    def _log_skip(self, display, record):
        reason = str(record.get("reason", ""))
        extra = {"plughost_plugin": record.get("plugin"), "plughost_stream": "event",
                 "plughost_pid": record.get("pid"), "plughost_record": record}
        role = _REQUIRES_ROLE.fullmatch(reason)
        worker = _ONLY_FOR_WORKER.fullmatch(reason)
        if role is not None:
            self._logger.info("Skipping %s: requires role %s", display, role.group(1),
                              extra=extra)
        elif worker is not None:
            self._log_skip_worker(display, int(worker.group(1)), extra)
        else:
            self._logger.info("Skipping %s: %s", display, reason, extra=extra)

    # -- stopping --------------------------------------------------------------------------

    def stop_plugins(self):
        """Stop every plugin and wait for plughost to end.

        May run from atexit during interpreter shutdown: no logging here, and nothing raised.
        """
        try:
            self._stop_requested = True
            runs = list(self._runs)
        except Exception:
            return
        for run in runs:
            try:
                run.stop()
            except Exception:
                pass
        # Objects callers put in the list themselves (LMCache's own tests do) are stopped as
        # LMCache stops them.
        try:
            for proc in list(self.plugin_processes):
                if not isinstance(proc, PluginProcess) and proc.poll() is None:
                    proc.terminate()
        except Exception:
            pass
