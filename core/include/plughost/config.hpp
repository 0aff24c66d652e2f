// Who this process is and what the launcher was asked to do: the inputs of the pipeline.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

class sink;
struct record;

/// Role, worker id and worker count.
struct identity {
  std::optional<std::string> role;  ///< nullopt: no role, no role filtering
  std::int64_t worker_id = 0;       ///< any integer: LMCache's scheduler runs as worker -1
  std::uint64_t worker_count = 1;   ///< at least 1
};

/// The longest configuration plugins can receive as JSON: Linux limits one environment entry
/// ("LMCACHE_RUNTIME_PLUGIN_CONFIG=...", with its NUL) to 128 KiB (MAX_ARG_STRLEN).
inline constexpr std::size_t max_plugin_config_bytes =
    128 * 1024 - sizeof("LMCACHE_RUNTIME_PLUGIN_CONFIG=");

/// How much a diagnostic matters.
enum class diagnostic_level { debug, info, warning, error };

/// "debug", "info", "warning" or "error".
std::string_view to_string(diagnostic_level level) noexcept;

/// Receives plughost's own messages (what the binary prints as "plughost: warning: ..."): one
/// line, without the prefix, with control characters shown escaped. Called from any of the
/// launcher's threads (the one that constructs it, the one that runs it, its sinks' writer
/// threads), one call at a time. It may call the launcher's stop(), reload() and status(), not
/// wait() nor destroy it (they would wait for the very thread it runs on); what it throws is
/// ignored.
using diagnostics_handler = std::function<void(diagnostic_level level, std::string_view message)>;

/// What a sink does when its queue is full (`overflow:` in the configuration).
enum class overflow_policy {
  block,        ///< stop reading the pipes of the plugins routed to it until there is room
  drop_new,     ///< drop the records that do not fit, counted per plugin
  drop_oldest,  ///< drop the oldest records queued, counted per plugin
};

/// A sink the embedding program provides: it receives every plugin's records, as configured
/// sinks do (docs/embedding.md). plughost calls it from a writer thread of its own, one call at a
/// time, and keeps a reference to it until the launcher is destroyed. Unlike a configured sink,
/// it is never left behind when it is slow: the run ends (run() and wait() return) only once it
/// has written everything and returned. It may call the launcher's stop(), reload() and
/// status(), not wait() nor destroy it.
struct program_sink {
  std::string name = "program";  ///< how messages and plughost.plugins.<name>.sinks refer to it
  std::shared_ptr<plughost::sink> sink;
  std::size_t queue_size = 8 * 1024 * 1024;  ///< bytes of records waiting (64 KiB to 1 GiB)
  overflow_policy overflow = overflow_policy::block;
};

/// A program sink that calls `on_record` for each record (the record is a view: copy what you
/// keep) and does nothing on flush.
std::shared_ptr<plughost::sink> callback_sink(std::function<void(const record&)> on_record);

/// What a launcher is asked to do, as a command line gives it. Numbers and durations are typed;
/// the texts (role, paths, sink specs, addresses) are kept as the user typed them so that errors
/// can quote them, and the launcher validates them.
struct launch_options {
  std::optional<std::filesystem::path> config_file;  ///< --config
  /// --config-json: the configuration as JSON text, instead of a file. Plugins receive this text
  /// unchanged, byte for byte (LMCache's multiprocess mode hands its own aggregate this way).
  std::optional<std::string> config_json;
  /// --settings (else $PLUGHOST_SETTINGS): a file whose `plughost:` section comes before the
  /// configuration's, for callers whose configuration cannot hold one (LMCache drops unknown keys
  /// before its launcher sees them).
  std::optional<std::filesystem::path> settings_file;
  /// --role; "none" (or ""): no role, so no role filtering, whatever the environment says.
  /// Text, not an enum: LMCache's roles are open (SCHEDULER, WORKER, and whatever it adds).
  std::optional<std::string> role;
  /// --worker-id: any integer (LMCache's scheduler runs as -1); nullopt: from the environment.
  std::optional<std::int64_t> worker_id;
  /// --worker-count: at least 1 (0 makes the launcher throw usage_error); nullopt: from the
  /// environment.
  std::optional<std::uint64_t> worker_count;
  std::vector<std::filesystem::path> locations;  ///< --location, replaces the config's
  std::vector<std::string> sinks;                ///< --sink, replaces the config's
  /// --add-sink: added to the configured sinks (not to the default stdout one) and given every
  /// plugin's records, whatever plughost.plugins.<name>.sinks say: a program's own tap.
  std::vector<std::string> added_sinks;
  /// --runner: the only runners that claim files (replaces plughost.enabled_runners).
  std::vector<std::string> runners;
  /// --plugin-variable NAME[=VALUE]: one of the eight identity variables plugins receive
  /// (LMCACHE_RUNTIME_PLUGIN_ROLE ... LMCACHE_PLUGIN_CONFIG) gets TEXT instead of plughost's
  /// value, or, without '=', is not set: for callers that stand for a launcher which set other
  /// texts (LMCache's enum roles) or fewer variables (its old PluginLauncher). The CONFIG ones
  /// take no TEXT: their text is the configuration's.
  std::vector<std::string> plugin_variables;
  /// --stop-timeout: how long plugins get after their stop signal before SIGKILL; nullopt:
  /// plughost.stop_timeout. Negative or over max_duration makes the launcher throw usage_error.
  std::optional<std::chrono::nanoseconds> stop_timeout;
  /// --watch: as plughost.watch: true (docs/running.md, "Watched folders"): run() reloads by
  /// itself when a file in a plugin location is added, changed or removed.
  bool watch = false;
  /// --module-path: folders searched for runner and sink modules (.so) before
  /// PLUGHOST_MODULE_PATH, plughost.module_locations and the folder next to the binary.
  std::vector<std::filesystem::path> module_paths;
  /// --allow-insecure-permissions (or plughost.allow_insecure_permissions): as root, run plugins
  /// and load modules whatever their owner and mode (a warning says so at start). Otherwise
  /// a file, or a folder holding it, that is not owned by root or that its group or others may
  /// write is refused.
  bool allow_insecure_permissions = false;
  /// Handle SIGTERM and SIGINT by stopping the plugins and SIGHUP by reloading (the launcher
  /// binary sets this; an embedding program usually calls launcher::stop() and reload()).
  bool handle_signals = false;
  /// Reap every child process of this program that exits, not only those in plugins' process
  /// groups: the orphans plughost adopts as child subreaper include descendants of plugins
  /// that left their group (setsid), which would stay zombies otherwise. Costs one system call
  /// per child that changed state. The launcher binary sets this; an embedding program that
  /// starts children of its own and waits for them must leave it off (plughost would take their
  /// exit statuses), and then each SIGCHLD checks every plugin's process group instead.
  bool reap_all_children = false;
  /// The environment to read identity and configuration from; nullopt: this process's.
  std::optional<std::vector<std::string>> environment;
  /// --exit-with-parent: stop every plugin and return when this process exits (0: the parent
  /// of this process). Stopping then gives plugins at most 1 s after their stop signal.
  std::optional<int> exit_with;
  /// --allow-missing-locations (or plughost.allow_missing_locations): run() goes on without a
  /// plugin location that does not exist, with a warning, as LMCache's launcher does. Without
  /// it, run() and start() throw config_error naming the location (after waiting for it, see
  /// wait_for_locations); plan() and `plughost list` only warn.
  bool allow_missing_locations = false;
  /// --wait-for-locations (or plughost.wait_for_locations): how long run() first waits for
  /// missing locations to appear (a mount, a ConfigMap not there yet). Negative or over
  /// max_duration makes the launcher throw usage_error.
  std::optional<std::chrono::nanoseconds> wait_for_locations;
  /// --socket: the path of the control socket (`plughost status`, `stop`... talk to it; "none":
  /// no control socket); else plughost.control_socket; else, when `control` is set, the default
  /// path for this identity (docs/operations.md). Text, as metrics_address: a path with
  /// placeholders, or the word "none".
  std::optional<std::string> control_socket;
  /// Open a control socket at the default path when neither --socket nor the configuration
  /// names one. The binary sets this.
  bool control = false;
  /// --metrics-address: HOST:PORT where /metrics and /healthz are served ("none": not served);
  /// else plughost.metrics_address; off by default.
  std::optional<std::string> metrics_address;
  /// Tell systemd, when NOTIFY_SOCKET is set, that the plugins have started (READY=1) and, when
  /// WATCHDOG_USEC is set, that the event loop is alive. The binary sets this.
  bool notify_systemd = false;

  // ---- for programs that embed the launcher (docs/embedding.md) -----------------------------

  /// Sinks of the program's own, added to the configured ones and given every plugin's records.
  std::vector<program_sink> program_sinks;
  /// false: only the program's sinks, whatever the configuration and --sink say. When the
  /// program has sinks and the configuration none, plughost's default (stdout) is left out.
  bool configured_sinks = true;
  /// Where plughost's own messages go; empty: standard error, as "plughost: warning: ...".
  diagnostics_handler diagnostics;
  /// While run() runs, make this process a child subreaper (PR_SET_CHILD_SUBREAPER) and handle
  /// SIGCHLD, a process-wide handler: the orphans a plugin leaves (daemons it started, children
  /// of a plugin that exited) become this process's children and are stopped and reaped with
  /// the plugin. Off, a plugin's main process is watched through a pidfd (no signal handler) and
  /// its orphans become init's: those still in the plugin's process group are stopped with it,
  /// those that left it are not. The binary sets this.
  bool child_subreaper_and_sigchld_handler = false;
  /// While run() runs, raise this process's soft RLIMIT_NOFILE to its hard limit (each plugin
  /// needs two pipes; plugins get the old limit). The binary sets this.
  bool raise_open_file_limit = false;
};

/// The longest duration an option or setting takes: beyond about 31 years, a value is a typo,
/// not a timeout.
inline constexpr std::chrono::seconds max_duration{1'000'000'000};

// The command line's texts for launch_options' typed values, parsed as `plughost run` parses
// them, for a program that takes them as text (its own flags, a configuration of its own): the
// C API uses them too. Each throws usage_error quoting `option` (the name the user knows the
// value by, e.g. "--worker-id") and the text: "--worker-id: expected an integer, got 'x'".

/// A worker id: an optional '-', then ASCII digits ("-1", "007"); no '+', no blanks.
std::int64_t parse_worker_id_option(std::string_view option, std::string_view text);
/// A worker count: ASCII digits, at least 1.
std::uint64_t parse_worker_count_option(std::string_view option, std::string_view text);
/// A duration: seconds ("5", "0.5") or a number with a unit ms, s, m or h ("500ms", "2s",
/// "1m"), at most max_duration.
std::chrono::nanoseconds parse_duration_option(std::string_view option, std::string_view text);

}  // namespace plughost

#pragma GCC visibility pop
