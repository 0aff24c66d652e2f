// How plugins are supervised: the policy under `plughost:` for all of them (its values from
// defaults.yaml, the one source of every default), and plughost.plugins.<name> for one plugin
// (its policy and the sinks its records go to).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <functional>
#include <limits>

#include "common/line_pattern.hpp"
#include "common/nearest.hpp"
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
                    "interval: start it every `interval` (a periodic job); schedule: at the "
                    "times of `schedule` (cron)",
     .choices = "never|on-failure|always|interval|schedule"},
    {.key = "interval",
     .type = setting_type::duration,
     .description = "restart: interval: the time from one start of the plugin to the next"},
    {.key = "schedule",
     .type = setting_type::string,
     .description = "restart: schedule: when runs start, as cron has it (\"*/5 * * * *\", "
                    "@hourly; a sixth field before the minute for seconds)"},
    {.key = "timezone",
     .type = setting_type::string,
     .default_value = "UTC",
     .description = "restart: schedule: the time zone of `schedule` (Area/City, e.g. "
                    "Europe/Paris)"},
    {.key = "jitter",
     .type = setting_type::duration,
     .default_value = "0",
     .description = "restart: schedule: each run starts after a random delay of up to this "
                    "(so that a fleet does not start at once)"},
    {.key = "run_at_start",
     .type = setting_type::boolean,
     .default_value = "false",
     .description = "restart: schedule: also run when plughost starts"},
    {.key = "max_concurrent",
     .type = setting_type::count,
     .default_value = "1",
     .description = "restart: schedule: runs at once; 1 (a run still going when the next is "
                    "due is followed at once when it ends, never overlapped)"},
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
    {.key = "notify",
     .type = setting_type::boolean,
     .description = "true: the plugin gets its own NOTIFY_SOCKET and says READY=1 when it is "
                    "ready (sd_notify; WATCHDOG=1, STATUS=, STOPPING=1 too)"},
    {.key = "notify_fd",
     .type = setting_type::count,
     .description = "a descriptor number (3 or more) open in the plugin: a newline written to "
                    "it says the plugin is ready (as s6's notification-fd); 0: none"},
    {.key = "watchdog",
     .type = setting_type::duration,
     .description = "with notify: a run that sends no WATCHDOG=1 for this long is stopped as "
                    "failed and restarted by its policy (0: none)"},
    {.key = "required",
     .type = setting_type::boolean,
     .description = "true: /readyz answers 200 only once this plugin is ready"},
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
                                                       "cgroups",
                                                       "ready_when",
                                                       "ready_requires_plugins",
                                                       "ordered_stop",
                                                       "watch",
                                                       "wait_for",
                                                       "startup",
                                                       "readiness",
                                                       "liveness"};

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
  if (s.has("schedule") || s.has("timezone")) {  // read into a timetable once all is layered
    auto t = p.timetable.shared ? *p.timetable.shared : timetable{};
    if (s.has("schedule")) t.text = s.get_string("schedule");
    if (s.has("timezone")) t.zone_name = s.get_string("timezone");
    t.cron.reset();
    p.timetable.shared = std::make_shared<const timetable>(std::move(t));
  }
  if (s.has("jitter")) p.jitter = s.get_duration("jitter");
  if (s.has("run_at_start")) p.run_at_start = s.get_bool("run_at_start");
  if (s.has("max_concurrent")) {
    p.max_concurrent = static_cast<int>(
        std::min<std::int64_t>(s.get_integer("max_concurrent"), std::numeric_limits<int>::max()));
  }
  if (s.has("notify")) p.notify = s.get_bool("notify");
  if (s.has("notify_fd"))
    p.notify_fd = static_cast<int>(
        std::min<std::int64_t>(s.get_integer("notify_fd"), std::numeric_limits<int>::max()));
  if (s.has("watchdog")) p.watchdog = s.get_duration("watchdog");
  if (s.has("required")) p.required = s.get_bool("required");
}

// The highest notify_fd: plugins get plughost's original open-file limit, often 1,024.
constexpr int max_notify_fd = 1023;

// ready_when: {log: REGEX} of a section (a `plughost:` one or a plugin's entry), onto `p`.
void read_ready_when(const json& section, const config_document& doc,
                     const json::json_pointer& where, const std::string& what, plugin_policy& p) {
  const auto it = section.find("ready_when");
  if (it == section.end() || it->is_null()) return;
  const auto at = where / "ready_when";
  if (!it->is_object()) {
    doc.fail_at_value(at, fmt::format("{}.ready_when must be a mapping such as {{log: "
                                      "\"listening on\"}}, got {}",
                                      what, describe_type(*it)));
  }
  for (const auto& [key, value] : it->items()) {
    if (key != "log") {
      doc.fail_at_value(at / key, fmt::format("{}.ready_when: unknown key '{}'{} (valid: log)",
                                              what, key, did_you_mean(key, {"log"})));
    }
  }
  const auto log = it->find("log");
  if (log == it->end() || !log->is_string() || log->get<std::string>().empty()) {
    doc.fail_at_value(log == it->end() ? at : at / "log",
                      fmt::format("{}.ready_when.log must be a regular expression (POSIX "
                                  "extended, as grep -E) that a line of the plugin's output "
                                  "matches once it is ready",
                                  what));
  }
  if (const line_pattern pattern(log->get<std::string>()); !pattern.valid()) {
    doc.fail_at_value(at / "log", fmt::format("{}.ready_when.log is not a valid regular "
                                              "expression (POSIX extended, as grep -E): {}",
                                              what, pattern.error()));
  }
  p.ready_log = log->get<std::string>();
}

// The readiness settings that only make sense together. `at(key)`: where the key that is wrong
// was set (its document and value).
void check_health(const plugin_policy& p, const std::string& what,
                  const std::function<picked(const char*)>& at) {
  const auto fail = [&](const char* key, const std::string& message) {
    const auto where = at(key);
    where.doc->fail_at_value(where.where, fmt::format("{}: {}", what, message));
  };
  if (p.notify_fd > 0 && p.notify_fd < 3) {
    fail("notify_fd", fmt::format("notify_fd must be 3 or more, or 0 for none (1 and 2 are the "
                                  "plugin's stdout and stderr), got {}",
                                  p.notify_fd));
  }
  if (p.notify_fd > max_notify_fd) {
    fail("notify_fd",
         fmt::format("notify_fd must be at most {}, got {}", max_notify_fd, p.notify_fd));
  }
  if (p.watchdog.count() > 0 && p.watchdog < std::chrono::milliseconds(100)) {
    fail("watchdog",
         "watchdog must be at least 100ms (0: none): a shorter one stops a plugin "
         "before it can answer");
  }
  if (p.watchdog.count() > 0 && !p.notify) {
    fail("watchdog",
         "watchdog needs notify: true (the plugin sends WATCHDOG=1 to its "
         "NOTIFY_SOCKET)");
  }
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
      read_ready_when(*section, *doc, json::json_pointer("/plughost"), "plughost", policy);
      read_probes(*section, *doc, json::json_pointer("/plughost"), "plughost", policy);
      read_order(*section, *doc, json::json_pointer("/plughost"), "plughost", false, policy);
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
  check_health(policy, "plughost", [&](const char* key) { return pick(config, key); });
  read_timetable(policy, "plughost", [&](const char* key) { return pick(config, key); });
  return policy;
}

void check_notify_fd_limits(const configuration& config, const launch_settings& out) {
  const auto nofile = [](const plugin_isolation& iso) -> std::optional<rlim_t> {
    for (const auto& [resource, value] : iso.limits) {
      if (resource == RLIMIT_NOFILE) return value;
    }
    return std::nullopt;
  };
  const auto check = [&](const plugin_policy& policy, const plugin_isolation& iso,
                         const std::string& what, picked at) {
    const auto limit = nofile(iso);
    if (policy.notify_fd == 0 || !limit || static_cast<rlim_t>(policy.notify_fd) < *limit) return;
    at.doc->fail_at_value(at.where, fmt::format("{}: notify_fd {} is not below its limits.nofile "
                                                "({}): the plugin could not have it open",
                                                what, policy.notify_fd, *limit));
  };
  check(out.default_policy, out.default_isolation, "plughost", pick(config, "notify_fd"));
  const auto plugins = pick(config, "plugins");
  if (!plugins.value || !plugins.value->is_object()) return;
  for (const auto& [name, entry] : plugins.value->items()) {
    const bool own = entry.is_object() && entry.contains("notify_fd");
    check(out.policy_for(name), out.isolation_for(name), "plughost.plugins." + name,
          own ? picked{&entry["notify_fd"], plugins.doc, plugins.where / name / "notify_fd"}
              : pick(config, "notify_fd"));
  }
}

bool resolve_flag(const configuration& config, const std::string& key) {
  const auto p = pick(config, key);
  if (!p.value || p.value->is_null()) return false;
  if (!p.value->is_boolean()) {
    p.doc->fail_at_value(p.where, fmt::format("plughost.{}: expected true or false, got {}", key,
                                              describe_type(*p.value)));
  }
  return p.value->get<bool>();
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
    const auto values = validate_settings(
        policy_table, entry, *section.doc, where, fmt::format("plughost.plugins.{}", plugin),
        with_isolation_keys({"sinks", "ready_when", "startup", "readiness", "liveness", "after",
                             "requires", "wait_for"}),
        /*fill_defaults=*/false);
    auto policy = base;
    apply_policy(values, policy);
    read_ready_when(entry, *section.doc, where, fmt::format("plughost.plugins.{}", plugin), policy);
    read_probes(entry, *section.doc, where, fmt::format("plughost.plugins.{}", plugin), policy);
    read_order(entry, *section.doc, where, fmt::format("plughost.plugins.{}", plugin), true,
               policy);
    const auto at = [&](const char* key) {
      const auto own = entry.find(key);  // else set under `plughost:`, and wrong for this one
      return own != entry.end() ? picked{&*own, section.doc, where / key} : pick(config, key);
    };
    check_health(policy, fmt::format("plughost.plugins.{}", plugin), at);
    read_timetable(policy, fmt::format("plughost.plugins.{}", plugin), at);
    if (policy.restart == restart_mode::interval && policy.interval.count() == 0) {
      section.doc->fail_at_value(where, fmt::format("plughost.plugins.{}: restart: interval "
                                                    "needs an interval (e.g. interval: 5m)",
                                                    plugin));
    }
    out.plugin_policies[plugin] = policy;
    const auto entry_at = section.doc->key_position(where);
    out.plugin_entries_at[plugin] = entry_at.line > 0 ? fmt::format("{}:{}:{}", section.doc->source,
                                                                    entry_at.line, entry_at.column)
                                                      : section.doc->source;

    route_plugin(plugin, entry, *section.doc, where, sink_names, sinks_from_flags, out);
  }
  check_order_cycles(*section.doc, section.where, out.plugin_policies);
}

}  // namespace plughost::detail
