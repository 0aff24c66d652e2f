// The embeddable launcher: configuration → discovery → selection → resolution → supervision.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plughost/config.hpp"
#include "plughost/module_kind.hpp"

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

/// What the launcher decided for one file it found.
enum class decision {
  run,      ///< selected and resolved: it will be started
  skip,     ///< a plugin, but not for this role or worker
  ignored,  ///< not a plugin (no runner claims it, or a file already listed)
  error,    ///< selected but cannot be started (no interpreter, unreadable)
};

/// "run", "skip", "ignored" or "error".
std::string_view to_string(decision d) noexcept;

struct plugin_plan {
  std::string name;                ///< relative to the location it was found in
  std::filesystem::path path;      ///< absolute
  std::filesystem::path location;  ///< the location it was found in (absolute)
  plughost::decision decision = decision::ignored;
  std::string reason;             ///< why, in words
  std::string runner;             ///< the runner module's name; empty when ignored
  std::vector<std::string> argv;  ///< what will run; empty unless decision is run
  /// What its isolation settings change (docs/isolation.md), setting by setting ("memory_max",
  /// "env", "redact"...), each with its values in words ("128MiB"; "set A=1", "remove AWS_*
  /// (AWS_REGION)"; the keys of the configuration it does not receive, "extra_config.hf_token").
  /// Only the settings that are set, without the defaults every plugin gets; empty unless
  /// decision is run.
  std::vector<std::pair<std::string, std::vector<std::string>>> isolation;
  /// What it waits for before each start (docs/health.md): "requires server.py (ready)",
  /// "after setup.sh (completed)", "wait_for http://127.0.0.1:8000/health".
  std::vector<std::string> waits_for;
};

/// A runner module and whether it is in use (--runner, plughost.enabled_runners).
struct runner_info {
  std::string name;
  std::vector<std::string> extensions;  ///< what it claims, e.g. ".py"; empty when not loaded
  bool enabled = true;
  /// false: a runner in a .so that is not enabled (nor configured) is not loaded, so what it
  /// claims is not known.
  bool loaded = true;
};

/// The outcome of the pipeline stopped before the supervisor: what `plughost list` prints.
struct plan {
  plughost::identity identity;
  std::vector<std::filesystem::path> locations;  ///< absolute, in order
  std::string locations_from;        ///< "--location", an environment variable, or "<file> (<key>)"
  std::vector<runner_info> runners;  ///< every runner module, in search order
  std::vector<plugin_plan> plugins;
  std::vector<std::string> warnings;  ///< also logged
  /// Locations that do not exist and that run() would refuse (neither allowed to be missing nor
  /// waited for), each with the error run() would give.
  std::vector<std::string> location_errors;
};

/// Renders a plan as the `plughost list --json` object.
std::string to_json(const plan& p);

/// What a plugin is doing (plugin_status::state). Later versions may add states.
enum class plugin_state {
  starting,   ///< being started
  running,    ///< a process of its current run lives
  stopping,   ///< its run is being stopped (stop signal sent, or SIGKILL)
  draining,   ///< its main process exited; what it wrote waits for room in a full `block` sink
  backoff,    ///< its run ended; it restarts at next_restart
  replacing,  ///< a reload changed its file: the run is stopped, then the new file starts
  exited,     ///< ended well, no restart
  failed,     ///< for good: exited non-zero without a restart to follow, gave up, timed out, or
              ///< could not start
  stopped,    ///< stopped by plughost (the shutdown, or by hand)
  retired,    ///< gone from the configuration after a reload
  /// Its current run said it is ready (docs/health.md: notify, notify_fd, ready_when). A plugin
  /// that says so is `starting` until then; one that does not is `running`.
  ready,
  unhealthy,  ///< its current run was ready and said it no longer is (STOPPING=1)
  /// Its next run waits for plugins it comes after or requires, or for its wait_for gate
  /// (plugin_status::waiting_for says what).
  waiting,
  /// restart: schedule: waits for its next run (next_restart says when).
  scheduled,
};

/// "starting", "running", "stopping", "draining", "backoff", "replacing", "exited", "failed",
/// "stopped", "retired", "ready", "unhealthy", "waiting" or "scheduled": as `plughost status`, the
/// JSON and the C API name them.
std::string_view to_string(plugin_state s) noexcept;

/// Whether a plugin was stopped or started by hand (plugin_status::by_hand).
enum class by_hand_action { none, stopped, started };

/// "" (none), "stopped" or "started".
std::string_view to_string(by_hand_action a) noexcept;

/// One plugin, as the launcher supervises it.
struct plugin_status {
  std::string name;
  plugin_state state = plugin_state::starting;
  int pid = 0;                 ///< of its current run; 0 when none
  std::uint64_t restarts = 0;  ///< runs its restart policy started
  /// When its current run started.
  std::optional<std::chrono::system_clock::time_point> since;
  std::optional<int> last_exit_code;       ///< how its last run ended: with this exit code,
  std::optional<std::string> last_signal;  ///< or killed by this signal ("SIGKILL")
  /// backoff: when it starts again.
  std::optional<std::chrono::system_clock::time_point> next_restart;
  /// stopped or started when it was stopped or started by hand (launcher::stop_plugin(), the
  /// control socket) since the run or the last reload began; none otherwise.
  by_hand_action by_hand = by_hand_action::none;
  /// What it wrote, in all its runs: records (a line over the length limit counts once per
  /// piece) and bytes, newlines included.
  struct stream_count {
    std::uint64_t lines = 0;
    std::uint64_t bytes = 0;
  };
  stream_count out, err;
  /// How its runs' main processes ended, in all: by exit code, and by signal ("SIGKILL").
  std::map<int, std::uint64_t> exit_codes;
  std::map<std::string, std::uint64_t> exit_signals;
  /// Its last run's main process was ended by the out-of-memory killer of its cgroup (its
  /// memory_max), not by a signal someone sent.
  bool last_oom_killed = false;
  /// Its cgroup (docs/isolation.md): the folder its runs are held in ("" without one), and what
  /// the plugin uses now, read from the cgroup when the status was taken.
  std::string cgroup;
  std::optional<std::uint64_t> memory_bytes;
  std::optional<double> cpu_seconds;
  std::optional<std::uint64_t> processes;
  std::uint64_t oom_kills = 0;  ///< its processes the OOM killer ended in its cgroup
  /// What it may use, as in effect: memory_max, memory_high, cpu_max, cpu_weight, pids_max,
  /// cpus, nice, oom_score_adj and its rlimits ("limits.nofile"), by name, as text.
  std::map<std::string, std::string> limits;
  /// The same limits as numbers, for /metrics: memory_max in bytes, cpu_max in cores, pids_max.
  std::optional<std::uint64_t> memory_max_bytes;
  std::optional<double> cpu_max_cores;
  std::optional<std::uint64_t> pids_max;
  /// Readiness (docs/health.md). ready: its current run runs and is ready (a plugin that does
  /// not say when it is ready is, once it runs); required: /readyz waits for it.
  bool ready = false;
  bool required = false;
  /// How long its current run took to be ready; none until it is.
  std::optional<std::chrono::nanoseconds> ready_after;
  std::string status_text;  ///< its current run's latest STATUS= (sd_notify)
  /// Its runs stopped for their health, by reason ("watchdog", "liveness", "startup").
  std::map<std::string, std::uint64_t> health_failures;
  /// Order and gates (docs/health.md). waiting: what it waits for now ("all_b.py (ready)",
  /// "http://127.0.0.1:8000/health"); "" otherwise.
  std::string waiting_for;
  /// What it waited for before its latest start, and how long; when it first started and first
  /// became ready, counted from the start of the run (for `plughost status --chain`).
  std::string waited_for;
  std::optional<std::chrono::nanoseconds> waited;
  std::optional<std::chrono::nanoseconds> first_started_after;
  std::optional<std::chrono::nanoseconds> first_ready_after;
  /// The plugins it waits for before each start, as configured: "name (condition)", with
  /// "requires " before those it requires.
  std::vector<std::string> depends_on;
};

/// One sink of a launcher.
struct sink_status {
  std::string name;                ///< how routes name it
  std::string label;               ///< how messages name it: "jsonl (/var/log/p.jsonl)"
  std::uint64_t queued_bytes = 0;  ///< in its queue now (and in its writer's hands)
  std::uint64_t queue_size = 0;    ///< its queue's size in bytes
  std::uint64_t errors = 0;        ///< its writes and flushes that failed
  std::uint64_t lost = 0;          ///< records it failed to write
  /// Records its overflow policy dropped, per plugin (plughost's own reports under "").
  std::map<std::string, std::uint64_t> dropped;
};

/// Where a launcher's run is (launcher_status::phase).
enum class launcher_phase { not_started, starting, running, stopping, finished };

/// "not started", "starting", "running", "stopping" or "finished".
std::string_view to_string(launcher_phase p) noexcept;

/// A snapshot of a launcher's run.
struct launcher_status {
  launcher_phase phase = launcher_phase::not_started;
  /// When it was taken: at the call, unless the event loop was busy for more than a second (in
  /// a handler of the program's, e.g.); then it is the last one taken. None before the run.
  std::optional<std::chrono::system_clock::time_point> taken;
  std::vector<plugin_status> plugins;  ///< in the order they were started; retired ones too
  std::vector<sink_status> sinks;      ///< in the order they were configured
  int pid = 0;                         ///< of the process the launcher runs in, once started
  std::optional<std::chrono::system_clock::time_point> started;  ///< when the run began
  /// Its role, worker id and count, once started: which run answers (`plughost status --all`).
  std::optional<identity> who;
  /// The process it exits with (launch_options::exit_with; the LMCache process, for the Python
  /// drop-in); 0: none.
  int parent_pid = 0;
};

/// Where `plughost run` with these options has its control socket: --socket (its identity
/// placeholders filled), else plughost.control_socket, else (with options.control) the default
/// path for its identity (docs/operations.md); nullopt when it has none. What `plughost status`
/// connects to. Reads the configuration; throws usage_error, or config_error when it cannot be
/// read, unless `unread` is given: then the error's text goes there and the path is found
/// without the configuration (as if it named no control_socket).
std::optional<std::filesystem::path> control_socket_path(const launch_options& options,
                                                         std::string* unread = nullptr);

/// The folder of the default control sockets for this environment (options.environment, else
/// this process's): $XDG_RUNTIME_DIR/plughost, else /run/plughost as root, else
/// /tmp/plughost-UID. `plughost status --all` looks there.
std::filesystem::path control_socket_folder(const launch_options& options);

/// Renders a status as a JSON object (times in UTC, RFC 3339).
std::string to_json(const launcher_status& s);

/// Thread-safety: construct, run() and start() from one thread; plan(), stop(), reload(),
/// status() and wait() from any thread at any time (not async-signal-safe: for signals, use
/// launch_options::handle_signals). Destroying a launcher that was start()ed stops it and waits.
class launcher {
 public:
  /// Loads configuration and identity, discovers and selects plugins. Loads only the modules
  /// the configuration uses; a .so without a full manifest (docs/modules.md) is first loaded in
  /// a child process forked from this one, to learn what it holds.
  /// Throws usage_error or config_error; nothing has been started then.
  explicit launcher(const launch_options& options);
  ~launcher();
  launcher(const launcher&) = delete;
  launcher& operator=(const launcher&) = delete;

  /// What was found and decided: at construction, then after each reload that read the
  /// configuration. A copy (a reload replaces the launcher's own on another thread). Thread-safe.
  plughost::plan plan() const;

  /// Opens the sinks, starts every selected plugin and supervises them until no plugin's
  /// process group has a live process and no restart is pending, or stop() was called and the
  /// stop sequence ended. Returns the exit code of `plughost run`: 0 when no plugin failed for good
  /// (plugins stopped by the launcher never count), 1 otherwise. Throws config_error when a sink
  /// cannot be opened (before anything starts). Call once.
  /// Plugins are spawned from, and die with (PR_SET_PDEATHSIG), the calling thread.
  /// Effects on the process while run() runs: one more child, the guardian (docs/running.md),
  /// and a writer thread per sink; the process-wide ones only when asked for (handle_signals,
  /// child_subreaper_and_sigchld_handler, raise_open_file_limit), undone when run() returns.
  /// docs/embedding.md says what each changes.
  /// Several launchers can run at once in one process, each run() on a thread of its own, with
  /// their own plugins, sinks and buffers; the process-wide effects are shared.
  int run();

  /// run() on a thread the launcher owns; returns once the sinks are open and the plugins are
  /// being started. Throws config_error when a sink cannot be opened, like run(), and usage_error
  /// when run() or start() was called before.
  void start();

  /// After start(): waits for that run to end and returns its exit code (as run() does). Any
  /// thread; each call returns the same code.
  int wait();

  /// What every plugin is doing now. Thread-safe. While the plugins run, the event loop takes
  /// it (the caller waits, at most a second: see launcher_status::taken).
  launcher_status status() const;

  /// Asks run() to stop every plugin (SIGTERM, stop timeout, SIGKILL) and return.
  /// Idempotent; before run() it makes run() return at once without starting anything.
  void stop() noexcept;

  /// Asks run() to read the configuration and rescan the locations (as SIGHUP does): plugins
  /// that are new start, those gone or no longer selected stop, those whose file changed
  /// restart, the others are left alone. A configuration that fails to load changes nothing.
  /// Sinks, and the modules found at start, stay as they were; a module the configuration now
  /// uses is loaded then. Thread-safe; no effect outside run().
  void reload() noexcept;

  /// Every configured sink is made again (its module's factory, same settings) before its next
  /// records: files are opened again after logrotate moved them, a syslog connection is made
  /// again. What the old one held is flushed first. As SIGUSR1 does (with handle_signals) and
  /// `plughost reopen`. Thread-safe; no effect outside run().
  void reopen_sinks() noexcept;

  /// By hand, as an operator does through the control socket: stops one plugin (its stop
  /// sequence) and keeps it stopped, without restarting it, until start_plugin(),
  /// restart_plugin() or a reload; while a plugin is stopped by hand the run goes on. Returns
  /// what happened in words ("stopping", "was not running"). Throws usage_error naming what is
  /// wrong (no plugin of that name, not running, stopping). Thread-safe; waits for the event
  /// loop (up to 5 s, then throws usage_error).
  std::string stop_plugin(std::string_view name);
  /// Starts a plugin that is not running (exited, failed, waiting to restart, stopped by hand)
  /// now, its restarts in a row at zero. "started", "already running", or "could not start: …".
  std::string start_plugin(std::string_view name);
  /// Stops a plugin's current run and starts it again once it has ended; starts it when it is
  /// not running.
  std::string restart_plugin(std::string_view name);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// What became of a module found on the search path (module_info::status).
enum class module_status {
  loaded,
  shadowed,  ///< another module earlier on the search path has its kind and name
  failed,
};

/// "loaded", "shadowed" or "failed".
std::string_view to_string(module_status s) noexcept;

/// One module found on the module search path (what `plughost modules` prints).
struct module_info {
  module_status status = module_status::failed;
  std::optional<module_kind> kind;  ///< none when it failed to load before saying its kind
  std::string name;                 ///< empty when it failed to load
  std::uint32_t abi_version = 0;
  std::string source;  ///< "built-in" or the .so's path
  std::string description;
  std::vector<std::string> extensions;  ///< runners: the extensions they claim
  /// How it was built: "plughost 0.1.0, gcc 12.2.0, libstdc++ (C++11 ABI)"; empty when it failed
  std::string built_with;
  std::string reason;  ///< shadowed: by which file; failed: why
};

struct module_report {
  std::vector<std::filesystem::path> search_path;  ///< module folders, in search order
  std::vector<module_info> modules;                ///< in search order, built-ins last
  std::vector<std::string> warnings;
};

/// Finds every module the options, environment and configuration point to, and reports them.
/// Each .so is loaded in a child process forked from this one (call it while this process has
/// a single thread), so that one that crashes while it loads is reported as failed. Throws
/// usage_error or config_error like the launcher.
module_report list_modules(const launch_options& options);

/// Renders a module report as the `plughost modules --json` object.
std::string to_json(const module_report& r);

/// The version of plughost, "0.1.0" (PLUGHOST_VERSION_STRING of plughost/version.hpp).
std::string_view version() noexcept;

}  // namespace plughost

#pragma GCC visibility pop
