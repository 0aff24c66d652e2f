// The parts resolve_settings() (launch_settings.cpp) is made of, one file each: the `plughost:`
// sections of the documents (plughost_section.cpp), the locations, the supervision policy, the
// runners and the sinks. Private to config/.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/launch_settings.hpp"

namespace plughost::detail {

// ---- plughost_section.cpp: the `plughost:` sections of the documents ----------------------

/// `p` against `base` when relative, lexically normal, without a trailing '/' ("plugins/" and
/// "plugins" are one location, printed as LMCache's Path() prints it).
std::filesystem::path normal_path(const std::filesystem::path& base,
                                  const std::filesystem::path& p);

/// The `plughost:` mapping of a document; null when it has none (load_configuration() has
/// checked it).
const json* plughost_section(const config_document& doc);

/// plughost's sections, first to last: the settings file's, the user's, the defaults'.
std::vector<const config_document*> plughost_documents(const configuration& config);

/// A key of plughost's sections: the first document's that sets it.
struct picked {
  const json* value = nullptr;
  const config_document* doc = nullptr;
  json::json_pointer where = json::json_pointer();
};
picked pick(const configuration& config, const std::string& key);

/// A list of paths (`what` names it in errors), relative ones against their document's folder.
std::vector<std::filesystem::path> paths_from(const picked& p, const std::string& what);

// ---- environment_settings.cpp ---------------------------------------------------------------

/// plughost.environment: each variable from the first section that names it (settings file,
/// configuration, defaults). Throws config_error for a name or value that cannot be one.
std::vector<environment_variable> resolve_environment(const configuration& config);

/// Throws config_error at the key `where` when `name` cannot be a variable of a plugin's
/// environment: empty, with '=' or a NUL, or one plughost sets itself (its identity variables,
/// the configuration, PLUGHOST_HOST_PID). `what` names the mapping in the message.
void check_variable_name(const config_document& doc, const json::json_pointer& where,
                         const std::string& name, const std::string& what);

// ---- isolation_settings.cpp: what each plugin may use and see (docs/isolation.md) -----------

/// plughost.cgroups, the `plughost:` isolation keys (defaults.yaml, the user's, the settings
/// file's, layered) into out.default_isolation, and each plughost.plugins.NAME's, layered on
/// them, into out.plugin_isolations. Warnings (a limit this machine cannot apply, an
/// oom_score_adj below plughost's own) go to out.warnings. Throws config_error at the line of a
/// value that is wrong or cannot be (an unknown user, a folder that does not exist).
void resolve_isolation(const configuration& config, launch_settings& out);

/// The isolation keys, valid under `plughost:` and under plughost.plugins.NAME.
const std::vector<std::string>& isolation_key_names();

// ---- locations.cpp --------------------------------------------------------------------------

/// The locations in effect, in LMCache's order of precedence (see resolve_settings); sets
/// out.locations_from and adds warnings.
std::vector<std::filesystem::path> resolve_locations(const launch_options& options,
                                                     const environment_block& env,
                                                     const configuration& config,
                                                     launch_settings& out);

// ---- policy_settings.cpp: how plugins are supervised ----------------------------------------

/// Checks the plain keys of a document's `plughost:` mapping.
void check_plughost_section(const config_document& doc);

/// The policy of every plugin: defaults.yaml, then the user's section, then the settings
/// file's, then --stop-timeout.
plugin_policy resolve_default_policy(const launch_options& options, const configuration& config);
/// A plugin's notify_fd must be below its limits.nofile (else it cannot have it): throws
/// config_error at the notify_fd that is too high.
void check_notify_fd_limits(const configuration& config, const launch_settings& out);

/// A boolean key of plughost's sections (ready_requires_plugins, ordered_stop: docs/health.md),
/// false when unset.
bool resolve_flag(const configuration& config, const std::string& key);

// ---- schedule_settings.cpp: restart: schedule (docs/running.md) ---------------------------

/// Reads `p`'s timetable (its schedule and time zone, layered as text) and checks the keys of
/// restart: schedule; `at(key)` says where a key was set. Throws config_error there.
void read_timetable(plugin_policy& p, const std::string& what,
                    const std::function<picked(const char*)>& at);

// ---- order_settings.cpp: order and gates (docs/health.md) ----------------------------------

/// --watch, else plughost.watch (true, false or scan): "notify", "" or "scan".
std::string resolve_watch(const launch_options& options, const configuration& config);
/// wait_for (a `plughost:` section or a plugin's entry) onto `policy` (`~` turns it off), and,
/// in a plugin's entry, after and requires. Throws config_error at the line.
void read_order(const json& section, const config_document& doc, const json::json_pointer& where,
                const std::string& what, bool plugin_entry, plugin_policy& policy);
/// Refuses plugins that wait for each other (or themselves), naming the cycle and its lines.
void check_order_cycles(const config_document& doc, const json::json_pointer& plugins,
                        const std::map<std::string, plugin_policy>& policies);

// ---- probe_settings.cpp ---------------------------------------------------------------------

/// "HOST:PORT" (a [v6] address in brackets) onto host and port; false when it is not one.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port);
/// http://HOST[:PORT][/PATH] onto `p`'s host, port and path; false when it is not one.
bool parse_http_url(const std::string& url, probe_spec& p);

/// The probes (startup, readiness, liveness) of `section` (a `plughost:` one or a plugin's
/// entry, named `what` in messages) onto `policy`; `~` turns one off. Throws config_error.
void read_probes(const json& section, const config_document& doc, const json::json_pointer& where,
                 const std::string& what, plugin_policy& policy);

/// plughost.plugins: per plugin, its policy (layered on out.default_policy) and its sinks
/// (names of out.sinks). With `sinks_from_flags`, a route to a sink that --sink replaced is a
/// warning, not an error.
void resolve_plugin_entries(const configuration& config, bool sinks_from_flags,
                            launch_settings& out);

// ---- runner_settings.cpp --------------------------------------------------------------------

/// Every runner module with its settings (plughost.runners.<name>), in search order, enabled
/// when `enabled` names it or is empty. A runner's module is loaded when it is enabled, has
/// settings or is loaded anyway (a built-in); the others are left as they are, without settings.
std::vector<runner_request> resolve_runners(const configuration& config,
                                            const module_registry& modules,
                                            const std::vector<std::string>& enabled);

/// --runner, else plughost.enabled_runners: the runners in use, by name (each is loaded to check
/// that it exists); empty: all of them.
std::vector<std::string> enabled_runner_names(const launch_options& options,
                                              const configuration& config,
                                              const module_registry& modules);

// ---- sink_settings.cpp ----------------------------------------------------------------------

/// The sinks of --sink, else of plughost.sinks (the defaults' only without --add-sink).
std::vector<sink_request> resolve_sinks(const launch_options& options, const configuration& config,
                                        const module_registry& modules);

/// Sinks given on the command line (`flag` names them in errors), appended to `sinks`.
/// `text` as one part of a file name: letters, digits, '-', '_' and '.' stay, any other
/// character (a '/' above all) becomes '_', and "." or ".." become "_" / "__".
std::string file_name_part(std::string_view text);
/// The values of {host}, {role} ("all" without one, as in the control socket's name),
/// {worker_id} and {worker_count}; host and role as file_name_part() makes them (they go into
/// paths: `--role ../x` must not choose another folder).
std::map<std::string, std::string> identity_values(const identity& who);
/// `text` with those placeholders replaced; a near miss of one ({worker}, {ROLE}, {{role}})
/// throws config_error naming `where` and `key`; other braces are left as they are.
std::string with_identity(const std::string& text, const std::map<std::string, std::string>& known,
                          const std::string& where, const std::string& key);

/// {host}, {role} ("all" without one), {worker_id} and {worker_count} in the sinks' string,
/// path and list settings, replaced (every worker of a deployment can share one configuration
/// and write a file of its own). Throws config_error for another {name}.
void fill_identity_placeholders(std::vector<sink_request>& sinks, const identity& who);

/// The program's own sinks (launch_options::program_sinks), at the end of `sinks`. Throws
/// usage_error for one without a name or sink, with a queue size out of bounds, or whose name
/// another sink has.
void add_program_sinks(const std::vector<program_sink>& given, std::vector<sink_request>& sinks);
void add_flag_sinks(const std::vector<std::string>& specs, const char* flag,
                    const module_registry& modules, std::vector<sink_request>& sinks);

}  // namespace plughost::detail
