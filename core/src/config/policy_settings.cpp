// How plugins are supervised: the policy under `plughost:` for all of them (its values from
// defaults.yaml, the one source of every default), and plughost.plugins.<name> for one plugin
// (its policy and the sinks its records go to).
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"

namespace plughost::detail {

namespace {

// The keys of a policy: under `plughost:` for every plugin, under plughost.plugins.<name> for
// one. Their defaults are in defaults.yaml (core/data/), and only there.
const setting_spec policy_table[] = {
    {.key = "stop_timeout",
     .type = setting_type::duration,
     .description = "how long a plugin gets to exit after its stop signal before SIGKILL"},
    {.key = "stop_signal",
     .type = setting_type::choice,
     .description = "the signal that asks a plugin's process group to stop",
     .choices = "SIGTERM|SIGINT|SIGHUP|SIGQUIT|SIGUSR1|SIGUSR2"},
    {.key = "restart",
     .type = setting_type::choice,
     .description = "restart a plugin when it exits: never (as LMCache), on-failure, always; "
                    "interval: start it every `interval` (a periodic job)",
     .choices = "never|on-failure|always|interval"},
    {.key = "interval",
     .type = setting_type::duration,
     .description = "restart: interval: the time from one start of the plugin to the next"},
    {.key = "restart_delay",
     .type = setting_type::duration,
     .description = "delay before the first restart; doubled for each further one"},
    {.key = "restart_delay_max",
     .type = setting_type::duration,
     .description = "the longest delay between restarts"},
    {.key = "restart_reset_after",
     .type = setting_type::duration,
     .description = "a run this long resets the delay and the restart count"},
    {.key = "max_restarts",
     .type = setting_type::count,
     .description = "restarts in a row (each run shorter than restart_reset_after) before "
                    "giving up"},
    {.key = "timeout",
     .type = setting_type::duration,
     .description = "wall-clock limit of one run (0: none); the plugin is stopped when reached"},
    {.key = "enabled",
     .type = setting_type::boolean,
     .description = "false: the plugin is skipped, without renaming its file"},
};
// The other keys of `plughost:`, each read by its own part (allow_insecure_permissions by
// permission_settings.cpp): valid there, not per plugin.
const std::vector<std::string> core_structured_keys = {"sinks",
                                                       "runners",
                                                       "plugins",
                                                       "module_locations",
                                                       "enabled_runners",
                                                       "allow_insecure_permissions",
                                                       "control_socket",
                                                       "metrics_address",
                                                       "allow_missing_locations",
                                                       "wait_for_locations",
                                                       "environment",
                                                       "housekeeping_cpus",
                                                       "cgroups"};

// The keys valid under `plughost:`, and under plughost.plugins.NAME, besides the policy's.
std::vector<std::string> with_isolation_keys(std::vector<std::string> keys) {
  const auto& isolation = isolation_key_names();
  keys.insert(keys.end(), isolation.begin(), isolation.end());
  return keys;
}

// Puts the settings that are present onto a policy.
void apply_policy(const settings& s, plugin_policy& p) {
  if (s.has("stop_timeout")) p.stop_timeout = s.get_duration("stop_timeout");
  if (s.has("stop_signal")) p.stop_signal = *parse_signal(s.get_string("stop_signal"));
  if (s.has("restart")) p.restart = *parse_restart_mode(s.get_string("restart"));
  if (s.has("restart_delay")) p.restart_delay = s.get_duration("restart_delay");
  if (s.has("restart_delay_max")) p.restart_delay_max = s.get_duration("restart_delay_max");
  if (s.has("restart_reset_after")) p.restart_reset_after = s.get_duration("restart_reset_after");
  if (s.has("max_restarts")) {
    p.max_restarts = static_cast<int>(
        std::min<std::int64_t>(s.get_integer("max_restarts"), std::numeric_limits<int>::max()));
  }
  if (s.has("timeout")) {
    const auto t = s.get_duration("timeout");
    p.timeout = t.count() > 0 ? std::optional(t) : std::nullopt;
  }
  if (s.has("enabled")) p.enabled = s.get_bool("enabled");
  if (s.has("interval")) p.interval = s.get_duration("interval");
}

}  // namespace

void check_plughost_section(const config_document& doc) {
  if (const json* section = plughost_section(doc)) {
    validate_settings(policy_table, *section, doc, json::json_pointer("/plughost"), "plughost",
                      with_isolation_keys(core_structured_keys));
  }
}

plugin_policy resolve_default_policy(const launch_options& options, const configuration& config) {
  plugin_policy policy;
  auto layers = plughost_documents(config);  // applied from the last (the defaults) to the first
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const config_document* doc = *it;
    if (const json* section = plughost_section(*doc)) {
      apply_policy(validate_settings(policy_table, *section, *doc, json::json_pointer("/plughost"),
                                     "plughost", with_isolation_keys(core_structured_keys),
                                     /*fill_defaults=*/false),
                   policy);
    }
  }
  if (options.stop_timeout) {
    check_duration_option("launch_options.stop_timeout", *options.stop_timeout);
    policy.stop_timeout = *options.stop_timeout;
  }
  if (policy.restart == restart_mode::interval && policy.interval.count() == 0) {
    const auto key = pick(config, "restart");
    key.doc->fail_at_value(key.where, "restart: interval needs an interval (e.g. interval: 5m)");
  }
  return policy;
}

namespace {

// plughost.plugins.NAME.sinks: the configured sinks the plugin's records go to. A name that
// is no sink is an error, or, when --sink replaced the configured sinks, a warning (the
// plugin's records then go to every sink).
void route_plugin(const std::string& plugin, const json& entry, const config_document& doc,
                  const json::json_pointer& where, const std::vector<std::string>& sink_names,
                  bool sinks_from_flags, launch_settings& out) {
  const auto list = entry.find("sinks");
  if (list == entry.end() || list->is_null()) return;
  if (!list->is_array() || list->empty()) {
    doc.fail_at_value(where / "sinks",
                      fmt::format("sinks of plugin {} must be a non-empty list of sink "
                                  "names, got {}",
                                  plugin, describe_type(*list)));
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& n = (*list)[i];
    if (n.is_string() &&
        std::find(sink_names.begin(), sink_names.end(), n.get<std::string>()) != sink_names.end()) {
      names.push_back(n.get<std::string>());
      continue;
    }
    const auto message = fmt::format(
        "plugin {} is routed to the sink '{}', which is not "
        "configured (sinks: {})",
        plugin, n.is_string() ? n.get<std::string>() : n.dump(), fmt::join(sink_names, ", "));
    if (!sinks_from_flags) doc.fail_at_value(where / "sinks" / i, message);
    out.warnings.push_back(message +
                           "; --sink replaced the configured sinks, so its records go "
                           "to every sink");
    names.clear();
    break;
  }
  if (!names.empty()) out.plugin_sinks[plugin] = std::move(names);
}

}  // namespace

void resolve_plugin_entries(const configuration& config, bool sinks_from_flags,
                            launch_settings& out) {
  const auto& sinks = out.sinks;
  const auto& base = out.default_policy;
  const auto section = pick(config, "plugins");
  if (!section.value) return;
  if (!section.value->is_object()) {
    section.doc->fail_at_value(section.where,
                               fmt::format("plughost.plugins must be a mapping of plugin names "
                                           "to settings, got {}",
                                           describe_type(*section.value)));
  }
  std::vector<std::string> sink_names;
  for (const auto& s : sinks) sink_names.push_back(s.name);
  for (const auto& [plugin, entry] : section.value->items()) {
    const auto where = section.where / plugin;
    const auto values = validate_settings(policy_table, entry, *section.doc, where,
                                          fmt::format("plughost.plugins.{}", plugin),
                                          with_isolation_keys({"sinks"}),
                                          /*fill_defaults=*/false);
    auto policy = base;
    apply_policy(values, policy);
    if (policy.restart == restart_mode::interval && policy.interval.count() == 0) {
      section.doc->fail_at_value(where, fmt::format("plughost.plugins.{}: restart: interval "
                                                    "needs an interval (e.g. interval: 5m)",
                                                    plugin));
    }
    out.plugin_policies[plugin] = policy;
    const auto at = section.doc->key_position(where);
    out.plugin_entries_at[plugin] =
        at.line > 0 ? fmt::format("{}:{}:{}", section.doc->source, at.line, at.column)
                    : section.doc->source;

    route_plugin(plugin, entry, *section.doc, where, sink_names, sinks_from_flags, out);
  }
}

}  // namespace plughost::detail
