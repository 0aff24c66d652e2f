// Who this process is and what the launcher was asked to do: the inputs of the pipeline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

// Everything this header declares is part of libplughost's interface (docs/embedding.md).
#pragma GCC visibility push(default)

namespace plughost {

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

/// What a launcher is asked to do, as a command line gives it. Values are kept as typed by the
/// user so that errors can quote them; the launcher validates them.
struct launch_options {
  std::optional<std::filesystem::path> config_file;  ///< --config
  /// --config-json: the configuration as JSON text, instead of a file. Plugins receive this text
  /// unchanged, byte for byte (LMCache's multiprocess mode hands its own aggregate this way).
  std::optional<std::string> config_json;
  /// --settings (else $PLUGHOST_SETTINGS): a file whose `plughost:` section comes before the
  /// configuration's, for callers whose configuration cannot hold one (LMCache drops unknown keys
  /// before its launcher sees them).
  std::optional<std::filesystem::path> settings_file;
  std::optional<std::string> role;               ///< --role
  std::optional<std::string> worker_id;          ///< --worker-id
  std::optional<std::string> worker_count;       ///< --worker-count
  std::vector<std::filesystem::path> locations;  ///< --location, replaces the config's
  std::vector<std::string> sinks;                ///< --sink, replaces the config's
  /// --add-sink: added to the configured sinks (not to the default stdout one) and given every
  /// plugin's records, whatever plughost.plugins.<name>.sinks say: a program's own tap.
  std::vector<std::string> added_sinks;
  /// --runner: the only runners that claim files (replaces plughost.enabled_runners).
  std::vector<std::string> runners;
  std::optional<std::string> stop_timeout;  ///< --stop-timeout ("5", "500ms")
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
};

}  // namespace plughost

#pragma GCC visibility pop
