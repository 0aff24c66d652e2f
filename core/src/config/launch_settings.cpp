// Everything the launcher needs before it looks for plugins, resolved once: the identity, then
// each part in its own file (settings_parts.hpp), then what plugins receive as configuration.
#include "config/launch_settings.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "config/identity.hpp"
#include "config/lmcache_environment.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

// --plugin-variable NAME[=VALUE], checked against the eight identity variables plughost sets.
std::map<std::string, std::optional<std::string>> resolve_plugin_variables(
    const std::vector<std::string>& specs) {
  std::map<std::string, std::optional<std::string>> out;
  for (const auto& spec : specs) {
    const auto equals = spec.find('=');
    const auto name = spec.substr(0, equals);
    const bool known = std::ranges::any_of(
        std::array{"LMCACHE_RUNTIME_PLUGIN_", "LMCACHE_PLUGIN_"}, [&](std::string_view prefix) {
          return name.starts_with(prefix) &&
                 std::ranges::any_of(std::array{"ROLE", "WORKER_ID", "WORKER_COUNT", "CONFIG"},
                                     [&](std::string_view suffix) {
                                       return name.size() == prefix.size() + suffix.size() &&
                                              name.ends_with(suffix);
                                     });
        });
    if (!known) {
      throw usage_error(fmt::format(
          "--plugin-variable {}: expected LMCACHE_RUNTIME_PLUGIN_ or LMCACHE_PLUGIN_ followed by "
          "ROLE, WORKER_ID, WORKER_COUNT or CONFIG, then =VALUE or nothing",
          spec));
    }
    if (equals != std::string::npos && name.ends_with("CONFIG")) {
      throw usage_error(fmt::format(
          "--plugin-variable {}: {} takes no text (it is the configuration's); give {} alone "
          "to leave it unset",
          spec, name, name));
    }
    out[name] = equals == std::string::npos ? std::nullopt
                                            : std::optional<std::string>(spec.substr(equals + 1));
  }
  return out;
}

// The sinks: configured (or --sink), each plugin's; then --add-sink and the program's own, on
// top of the others, for every plugin.
void resolve_all_sinks(const launch_options& options, const configuration& config,
                       const module_registry& modules, launch_settings& out) {
  out.sinks = resolve_sinks(options, config, modules);
  resolve_plugin_entries(config, /*sinks_from_flags=*/!options.sinks.empty(), out);
  const auto before = out.sinks.size();
  add_flag_sinks(options.added_sinks, "--add-sink", modules, out.sinks);
  add_program_sinks(options.program_sinks, out.sinks);
  for (auto& [plugin, names] : out.plugin_sinks) {
    for (auto i = before; i < out.sinks.size(); ++i) names.push_back(out.sinks[i].name);
  }
  fill_identity_placeholders(out.sinks, out.who);
  if (out.sinks.empty()) out.warnings.push_back("no sinks are configured: records are discarded");
}

// The user's whole document, with the locations (and extra_config) in effect, as JSON text.
std::string document_for_plugins(const std::optional<config_document>& user,
                                 const std::vector<std::filesystem::path>& in_effect,
                                 const std::optional<json>& extra_config) {
  json document = user ? user->root : json::object();
  auto exact = user ? user->exact_numbers : std::map<std::string, std::string>();
  // What is replaced below keeps none of the document's numbers.
  const auto forget = [&](const std::string& key) {
    std::erase_if(exact, [&](const auto& entry) {
      return entry.first == "/" + key || entry.first.rfind("/" + key + "/", 0) == 0;
    });
  };
  json locations = json::array();
  for (const auto& loc : in_effect) locations.push_back(loc.string());
  document.erase("plugin_locations");  // LMCache maps the deprecated key onto this one:
  forget("plugin_locations");
  document["runtime_plugin_locations"] = std::move(locations);
  forget("runtime_plugin_locations");
  if (extra_config) {
    document["extra_config"] = *extra_config;
    forget("extra_config");
  }
  return dump_for_plugins(document, exact);
}

}  // namespace

launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const module_registry& modules) {
  return resolve_settings(options, env, load_configuration(options, env), modules);
}

launch_settings resolve_settings(const launch_options& options, const environment_block& env,
                                 const configuration& config, const module_registry& modules) {
  launch_settings out;
  out.who = resolve_identity(options, env);
  out.plugin_variables = resolve_plugin_variables(options.plugin_variables);
  if (out.who.worker_id >= 0 &&
      static_cast<std::uint64_t>(out.who.worker_id) >= out.who.worker_count) {
    out.warnings.push_back(fmt::format("worker id {} is not below the worker count {}",
                                       out.who.worker_id, out.who.worker_count));
  }
  const auto& user = config.user;
  out.locations = resolve_locations(options, env, config, out);

  out.default_policy = resolve_default_policy(options, config);
  out.ready_requires_plugins = resolve_flag(config, "ready_requires_plugins");
  out.ordered_stop = resolve_flag(config, "ordered_stop");
  out.watch = resolve_watch(options, config);
  if (options.exit_with)
    out.parent_pid = *options.exit_with == 0 ? ::getppid() : *options.exit_with;
  out.control_socket = resolve_control_socket(options, env, config, out.who, out.parent_pid);
  out.control_socket_named =
      out.control_socket && (options.control_socket || pick(config, "control_socket").value);
  out.metrics = resolve_metrics_address(options, config, out.who);
  out.missing_locations = resolve_location_policy(options, config);
  out.environment = resolve_environment(config);
  out.enabled_runners = enabled_runner_names(options, config, modules);
  out.runners = resolve_runners(config, modules, out.enabled_runners);

  resolve_all_sinks(options, config, modules, out);
  resolve_isolation(config, out);
  check_notify_fd_limits(config, out);

  // What plugins see: the JSON text they were handed, unchanged; else the user's whole
  // document, with the locations (and extra_config) in effect.
  const auto extra_config = lmcache_env_extra_config(env, out.warnings);
  const auto check_size = [&] {
    if (out.plugin_config_json.size() <= max_plugin_config_bytes) return;
    throw config_error(
        user ? user->source : std::string("(configuration)"),
        fmt::format("the configuration is {} bytes of JSON, more than the {} plugins can receive: "
                    "Linux limits one environment variable (LMCACHE_RUNTIME_PLUGIN_CONFIG) to "
                    "128 KiB",
                    out.plugin_config_json.size(), max_plugin_config_bytes));
  };
  if (config.verbatim_json) {
    out.plugin_config_json = *config.verbatim_json;
    check_size();
    return out;
  }
  out.plugin_config_json = document_for_plugins(user, out.locations, extra_config);
  check_size();
  return out;
}

}  // namespace plughost::detail
