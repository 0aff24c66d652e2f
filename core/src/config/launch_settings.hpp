// Everything the launcher needs to know before it looks for plugins, resolved once from the
// command line, the environment, the configuration and the defaults (docs/configuration.md).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/environment.hpp"
#include "common/permissions.hpp"
#include "common/queue_policy.hpp"
#include "config/config_document.hpp"
#include "config/runner_overrides.hpp"
#include "modules/module_registry.hpp"
#include "plughost/config.hpp"
#include "plughost/module.hpp"
#include "supervision/isolation.hpp"
#include "supervision/plugin_policy.hpp"

namespace plughost::detail {

/// The configuration documents: the user's, if any, and plughost's defaults.
struct configuration {
  std::optional<config_document> user;
  config_document defaults;
  /// --settings or $PLUGHOST_SETTINGS: only its `plughost:` section counts; it comes first.
  std::optional<config_document> settings;
  /// When the user's configuration came as JSON text (--config-json or
  /// LMCACHE_RUNTIME_PLUGIN_CONFIG): that text, which plugins then receive unchanged.
  std::optional<std::string> verbatim_json;
};

/// Reads the user's configuration (--config, --config-json, LMCACHE_CONFIG_FILE,
/// LMCACHE_RUNTIME_PLUGIN_CONFIG) and the defaults. Throws config_error.
configuration load_configuration(const launch_options& options, const environment_block& env);

/// Module folders in search order: --module-path, PLUGHOST_MODULE_PATH (colon-separated),
/// plughost.module_locations, then the modules folder next to the binary. Folders that were
/// asked for but do not exist are reported in `warnings`. Throws config_error for a bad
/// module_locations value.
std::vector<std::filesystem::path> module_search_path(const launch_options& options,
                                                      const environment_block& env,
                                                      const configuration& config,
                                                      std::vector<std::string>& warnings);

/// Whether plugin and module files are checked for their owner and mode: when plughost runs as
/// root (`euid` 0), unless --allow-insecure-permissions or plughost.allow_insecure_permissions
/// turns it off, which is then a warning in `warnings`. Throws config_error for a value that is
/// not a boolean.
permission_policy resolve_permission_policy(const launch_options& options,
                                            const configuration& config, uid_t euid,
                                            std::vector<std::string>& warnings);

/// A sink to open: its module, its validated settings and how it is referred to.
struct sink_request {
  const loaded_module* module = nullptr;  ///< null for a program sink
  settings values;
  std::string name;    ///< its `name:`, else its type, numbered when taken ("jsonl#2"); unique
  std::string label;   ///< for messages: "jsonl (/var/log/plugins.jsonl)"
  bool named = false;  ///< the name was given (`name:`)
  queue_policy queue;  ///< `queue_size:`, `overflow:`
  std::shared_ptr<sink> instance;  ///< a program sink (launch_options::program_sinks)
};

/// A runner module, with its settings (plughost.runners.<name>).
struct runner_request {
  std::string name;
  /// Null when its module was not loaded: a .so whose runner is neither enabled nor configured
  /// (plughost.runners.<name>) is not used, and loading it would run its code.
  const loaded_module* module = nullptr;
  settings values;
  runner_overrides overrides;
  /// In use: claims files. A runner left out by --runner or plughost.enabled_runners only
  /// explains why the files it would claim are ignored, when its module is loaded.
  bool enabled = true;
};

/// Where the /metrics endpoint listens.
struct metrics_endpoint {
  std::string host;  ///< an address ("127.0.0.1", "::"), or a name to resolve
  std::uint16_t port = 0;
  std::string text;  ///< as given
};

/// A variable of plughost.environment: set in every plugin's environment; no value (`~`): left
/// as plughost inherited it.
struct environment_variable {
  std::string name;
  std::optional<std::string> value;
};

/// Whether plughost sets `name` for every plugin itself (LMCache's identity variables and
/// configuration, PLUGHOST_HOST_PID, PLUGHOST_RUN): no setting replaces or removes it.
bool plughost_variable(const std::string& name);

/// What run() does about a plugin location that does not exist.
struct location_policy {
  bool allow_missing = false;        ///< run without it (with a warning), as LMCache does
  std::chrono::nanoseconds wait{0};  ///< first wait this long for it to appear
};

struct launch_settings {
  identity who;
  std::vector<std::filesystem::path> locations;  ///< absolute, in order
  std::string locations_from;  ///< where they came from: "--location", a variable, a file's key
  /// The plughost-level policy (restart, timeouts, stop signal, enabled), and per plugin name
  /// the policies of plughost.plugins.<name> (layered on the plughost-level one).
  plugin_policy default_policy;
  std::map<std::string, plugin_policy> plugin_policies;
  const plugin_policy& policy_for(const std::string& plugin) const {
    const auto it = plugin_policies.find(plugin);
    return it == plugin_policies.end() ? default_policy : it->second;
  }
  /// What each plugin may use and see (docs/isolation.md): plughost's keys for every plugin,
  /// and per plugin name plughost.plugins.<name>'s, layered on them.
  plugin_isolation default_isolation;
  /// What defaults.yaml alone gives every plugin (`list` leaves it out: it is no change).
  plugin_isolation builtin_isolation;
  std::map<std::string, plugin_isolation> plugin_isolations;
  const plugin_isolation& isolation_for(const std::string& plugin) const {
    const auto it = plugin_isolations.find(plugin);
    return it == plugin_isolations.end() ? default_isolation : it->second;
  }
  /// plughost.cgroups: "auto" (a cgroup per plugin where plughost can make one) or "off".
  std::string cgroups = "auto";
  /// plughost.ready_requires_plugins: plughost's READY=1 waits for the required plugins.
  bool ready_requires_plugins = false;
  /// plughost.ordered_stop (docs/health.md).
  bool ordered_stop = false;
  /// plughost.watch (or --watch): "" (off), "notify" (inotify where it works) or "scan".
  std::string watch;
  std::vector<sink_request> sinks;
  std::vector<runner_request> runners;       ///< every runner module found, in search order
  std::vector<std::string> enabled_runners;  ///< names, when restricted; empty: all of them
  /// plughost.plugins.<name>.sinks: the sinks a plugin's records go to (by sink name).
  /// Plugins not listed go to every sink.
  std::map<std::string, std::vector<std::string>> plugin_sinks;
  /// Where each plughost.plugins.<name> entry is written ("file:line:col"), to say so when it
  /// names no plugin that was found.
  std::map<std::string, std::string> plugin_entries_at;
  /// What plugins receive in LMCACHE_RUNTIME_PLUGIN_CONFIG: the JSON text the configuration came
  /// as, unchanged; else the whole configuration document as compact JSON, with
  /// runtime_plugin_locations (and extra_config) as in effect.
  std::string plugin_config_json;
  /// --plugin-variable: identity variables given another text (a value) or left unset (none).
  std::map<std::string, std::optional<std::string>> plugin_variables;
  location_policy missing_locations;
  /// plughost.environment, variable by variable (the defaults set PYTHONUNBUFFERED=1).
  std::vector<environment_variable> environment;
  /// The control socket's path; none: no control socket.
  std::optional<std::filesystem::path> control_socket;
  bool control_socket_named = false;  ///< by --socket or the configuration, not the default
  /// The metrics endpoint; none: off.
  std::optional<metrics_endpoint> metrics;
  /// The process this run exits with (--exit-with-parent, resolved: the parent's pid for 0);
  /// 0: none. Such a run serves that process (the Python drop-in's plughost serves one LMCache
  /// process): its default control socket is named after it, and an endpoint it cannot open
  /// (a metrics address another process holds) is a warning, not a reason to run no plugin.
  int parent_pid = 0;
  std::vector<std::string> warnings;
};

/// The folder of plughost's control sockets: $XDG_RUNTIME_DIR/plughost, /run/plughost as root,
/// else /tmp/plughost-<uid>.
std::filesystem::path runtime_folder(const environment_block& env);

/// --socket ("none": none), else plughost.control_socket (a path, none or false), else with
/// options.control the default: <runtime_folder>/<role>.<worker id>.sock ("all" without a
/// role), <role>.<worker id>.<parent pid>.sock for a run with a parent_pid. Throws usage_error or
/// config_error (a path too long for a UNIX socket, a bad value).
std::optional<std::filesystem::path> resolve_control_socket(const launch_options& options,
                                                            const environment_block& env,
                                                            const configuration& config,
                                                            const identity& who,
                                                            int parent_pid = 0);

/// --allow-missing-locations, plughost.allow_missing_locations; --wait-for-locations,
/// plughost.wait_for_locations. Throws usage_error or config_error for a bad value.
location_policy resolve_location_policy(const launch_options& options, const configuration& config);

/// --metrics-address, else plughost.metrics_address: HOST:PORT, HOST:PORT+{worker_id} (the
/// port offset by `who`'s worker id), or none (the default).
std::optional<metrics_endpoint> resolve_metrics_address(const launch_options& options,
                                                        const configuration& config,
                                                        const identity& who);

/// Resolves the settings. Locations: --location, else LMCache's environment spelling
/// (LMCACHE_RUNTIME_PLUGIN_LOCATIONS), else the document's runtime_plugin_locations (or its
/// deprecated alias plugin_locations), as LMCache lets its environment override its file.
/// Throws usage_error (bad flag or identity value, no locations at all)
/// or config_error (invalid configuration, unknown sink, runner or setting). Loads the modules
/// it uses (module_registry::find): the sinks asked for, the runners enabled (every runner when
/// none is chosen) and those with settings. The result points into `modules` (sink and runner
/// modules), which must outlive it.
launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const configuration& config, const module_registry& modules);

/// Shorthand for tests: load_configuration + resolve_settings.
launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const module_registry& modules);

/// Parses one sink given in short form, "type" or "type:VALUE" (VALUE fills the sink's
/// shorthand setting). `doc` and `where` locate it for errors; relative paths are taken
/// against doc.base_dir.
sink_request parse_sink_shorthand(const std::string& spec, const module_registry& modules,
                                  const config_document& doc, const json::json_pointer& where);

}  // namespace plughost::detail
