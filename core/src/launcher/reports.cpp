// The reports of the public API: the version, the plan, the status and the module listing, as
// values and as JSON (docs/cli.md and docs/embedding.md describe the JSON).
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "config/identity.hpp"
#include "launcher/launch_context.hpp"
#include "modules/module_registry.hpp"
#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/sink_helpers.hpp"
#include "plughost/version.hpp"

namespace plughost {

std::string_view version() noexcept {
  return PLUGHOST_VERSION_STRING;
}

std::string_view to_string(decision d) noexcept {
  switch (d) {
    case decision::run:
      return "run";
    case decision::skip:
      return "skip";
    case decision::ignored:
      return "ignored";
    case decision::error:
      return "error";
  }
  return "error";
}

std::string_view to_string(plugin_state s) noexcept {
  switch (s) {
    case plugin_state::starting:
      return "starting";
    case plugin_state::running:
      return "running";
    case plugin_state::stopping:
      return "stopping";
    case plugin_state::draining:
      return "draining";
    case plugin_state::backoff:
      return "backoff";
    case plugin_state::replacing:
      return "replacing";
    case plugin_state::exited:
      return "exited";
    case plugin_state::failed:
      return "failed";
    case plugin_state::stopped:
      return "stopped";
    case plugin_state::retired:
      return "retired";
    case plugin_state::ready:
      return "ready";
    case plugin_state::unhealthy:
      return "unhealthy";
    case plugin_state::waiting:
      return "waiting";
    case plugin_state::scheduled:
      return "scheduled";
  }
  return "?";
}

std::string_view to_string(by_hand_action a) noexcept {
  switch (a) {
    case by_hand_action::none:
      return "";
    case by_hand_action::stopped:
      return "stopped";
    case by_hand_action::started:
      return "started";
  }
  return "";
}

std::string_view to_string(launcher_phase p) noexcept {
  switch (p) {
    case launcher_phase::not_started:
      return "not started";
    case launcher_phase::starting:
      return "starting";
    case launcher_phase::running:
      return "running";
    case launcher_phase::stopping:
      return "stopping";
    case launcher_phase::finished:
      return "finished";
  }
  return "?";
}

std::string_view to_string(module_status s) noexcept {
  switch (s) {
    case module_status::loaded:
      return "loaded";
    case module_status::shadowed:
      return "shadowed";
    case module_status::failed:
      return "failed";
  }
  return "failed";
}

namespace {

// A plugin's isolation, setting → its value (a string), or its values (a list) for the
// settings that have several.
nlohmann::ordered_json isolation_json(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& isolation) {
  auto out = nlohmann::ordered_json::object();
  for (const auto& [setting, values] : isolation) {
    const bool list = setting == "env" || setting == "args" || setting == "limits" ||
                      setting == "credentials" || setting == "redact";
    out[setting] = list || values.size() != 1 ? nlohmann::ordered_json(values)
                                              : nlohmann::ordered_json(values.front());
  }
  return out;
}

}  // namespace

std::string to_json(const plan& p) {
  using json = nlohmann::ordered_json;
  json out;
  out["identity"] = {{"role", p.identity.role ? json(*p.identity.role) : json(nullptr)},
                     {"worker_id", p.identity.worker_id},
                     {"worker_count", p.identity.worker_count}};
  json locations = json::array();
  for (const auto& l : p.locations) locations.push_back(l.string());
  out["locations"] = std::move(locations);
  out["locations_from"] = p.locations_from;
  json runners = json::array();
  for (const auto& r : p.runners) {
    runners.push_back({{"name", r.name},
                       {"extensions", r.extensions},
                       {"enabled", r.enabled},
                       {"loaded", r.loaded}});
  }
  out["runners"] = std::move(runners);
  json plugins = json::array();
  for (const auto& e : p.plugins) {
    json item;
    item["name"] = e.name;
    item["path"] = e.path.string();
    item["location"] = e.location.string();
    item["decision"] = to_string(e.decision);
    item["reason"] = e.reason;
    item["runner"] = e.runner.empty() ? json(nullptr) : json(e.runner);
    item["argv"] = e.argv;
    item["isolation"] = isolation_json(e.isolation);
    item["waits_for"] = e.waits_for;
    plugins.push_back(std::move(item));
  }
  out["plugins"] = std::move(plugins);
  out["warnings"] = p.warnings;
  out["location_errors"] = p.location_errors;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view to_string(diagnostic_level level) noexcept {
  switch (level) {
    case diagnostic_level::debug:
      return "debug";
    case diagnostic_level::info:
      return "info";
    case diagnostic_level::warning:
      return "warning";
    case diagnostic_level::error:
      return "error";
  }
  return "error";
}

std::optional<std::filesystem::path> control_socket_path(const launch_options& options,
                                                         std::string* unread) {
  const auto env = options.environment ? detail::environment_block(*options.environment)
                                       : detail::environment_block::current();
  const auto who = detail::resolve_identity(options, env);
  // Without the configuration when it cannot name the socket (--socket) or cannot be read (it
  // is being fixed, and `plughost reload` is how the running plughost says what is wrong): the
  // defaults alone then.
  auto bare = options;
  bare.config_file.reset();
  bare.config_json.reset();
  bare.settings_file.reset();
  auto bare_env = env;
  for (const auto* name :
       {"LMCACHE_CONFIG_FILE", "LMCACHE_RUNTIME_PLUGIN_CONFIG", "PLUGHOST_SETTINGS"}) {
    bare_env.unset(name);
  }
  if (options.control_socket) {
    return detail::resolve_control_socket(options, env, detail::load_configuration(bare, bare_env),
                                          who);
  }
  try {
    return detail::resolve_control_socket(options, env, detail::load_configuration(options, env),
                                          who);
  } catch (const config_error& e) {
    if (!unread) throw;
    *unread = e.what();
    return detail::resolve_control_socket(options, env, detail::load_configuration(bare, bare_env),
                                          who);
  }
}

std::filesystem::path control_socket_folder(const launch_options& options) {
  return detail::runtime_folder(options.environment
                                    ? detail::environment_block(*options.environment)
                                    : detail::environment_block::current());
}

namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json json_time(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? ordered_json(format_timestamp(*t)) : ordered_json(nullptr);
}

// One plugin of a status, as of `taken`.
ordered_json plugin_json(const plugin_status& p,
                         const std::optional<std::chrono::system_clock::time_point>& taken) {
  using json = ordered_json;
  json item;
  item["name"] = p.name;
  item["state"] = to_string(p.state);
  item["pid"] = p.pid == 0 ? json(nullptr) : json(p.pid);
  item["restarts"] = p.restarts;
  item["since"] = json_time(p.since);
  // As of `taken`: what a reader would otherwise compute from two time stamps.
  const auto seconds_between = [](auto from, auto to) {
    return std::round(std::chrono::duration<double>(to - from).count() * 1000) / 1000;
  };
  item["uptime_seconds"] =
      p.since && taken ? json(seconds_between(*p.since, *taken)) : json(nullptr);
  item["last_exit_code"] = p.last_exit_code ? json(*p.last_exit_code) : json(nullptr);
  item["last_signal"] = p.last_signal ? json(*p.last_signal) : json(nullptr);
  item["next_restart"] = json_time(p.next_restart);
  item["next_restart_in_seconds"] =
      p.next_restart && taken ? json(seconds_between(*taken, *p.next_restart)) : json(nullptr);
  item["by_hand"] = p.by_hand == by_hand_action::none ? json(nullptr) : json(to_string(p.by_hand));
  item["stdout"] = {{"lines", p.out.lines}, {"bytes", p.out.bytes}};
  item["stderr"] = {{"lines", p.err.lines}, {"bytes", p.err.bytes}};
  json codes = json::object();
  for (const auto& [code, n] : p.exit_codes) codes[std::to_string(code)] = n;
  item["exit_codes"] = std::move(codes);
  item["exit_signals"] = p.exit_signals;
  // JSON cannot hold bytes that are not UTF-8 (name has U+FFFD for them): this one is exact.
  item["shown_name"] = visible_name(p.name);
  // Its cgroup (docs/isolation.md): what it uses, read when the status was taken; its limits.
  item["last_oom_killed"] = p.last_oom_killed;
  item["cgroup"] = p.cgroup.empty() ? json(nullptr) : json(p.cgroup);
  item["cpu_seconds"] = p.cpu_seconds ? json(*p.cpu_seconds) : json(nullptr);
  item["memory_bytes"] = p.memory_bytes ? json(*p.memory_bytes) : json(nullptr);
  item["processes"] = p.processes ? json(*p.processes) : json(nullptr);
  item["oom_kills"] = p.oom_kills;
  item["limits"] = p.limits;
  // Readiness (docs/health.md).
  item["ready"] = p.ready;
  item["required"] = p.required;
  const auto seconds = [](const std::optional<std::chrono::nanoseconds>& d) {  // to the ms
    return d ? json(std::round(std::chrono::duration<double>(*d).count() * 1000) / 1000)
             : json(nullptr);
  };
  item["ready_after_seconds"] = seconds(p.ready_after);
  item["status_text"] = p.status_text.empty() ? json(nullptr) : json(p.status_text);
  item["health_failures"] = p.health_failures;
  // Order and gates (docs/health.md): seconds counted from the start of the run.
  item["waiting_for"] = p.waiting_for.empty() ? json(nullptr) : json(p.waiting_for);
  item["waited_for"] = p.waited_for.empty() ? json(nullptr) : json(p.waited_for);
  item["waited_seconds"] = seconds(p.waited);
  item["first_started_seconds"] = seconds(p.first_started_after);
  item["first_ready_seconds"] = seconds(p.first_ready_after);
  item["depends_on"] = p.depends_on;
  return item;
}

}  // namespace

std::string to_json(const launcher_status& s) {
  using json = ordered_json;
  json out;
  out["phase"] = to_string(s.phase);
  out["taken"] = json_time(s.taken);
  out["pid"] = s.pid == 0 ? json(nullptr) : json(s.pid);
  out["started"] = json_time(s.started);
  out["identity"] = s.who ? json{{"role", s.who->role ? json(*s.who->role) : json(nullptr)},
                                 {"worker_id", s.who->worker_id},
                                 {"worker_count", s.who->worker_count}}
                          : json(nullptr);
  out["parent_pid"] = s.parent_pid == 0 ? json(nullptr) : json(s.parent_pid);
  json plugins = json::array();
  for (const auto& p : s.plugins) plugins.push_back(plugin_json(p, s.taken));
  out["plugins"] = std::move(plugins);
  json sinks = json::array();
  for (const auto& k : s.sinks) {
    json item;
    item["name"] = k.name;
    item["label"] = k.label;
    item["queued_bytes"] = k.queued_bytes;
    item["queue_size"] = k.queue_size;
    item["errors"] = k.errors;
    item["lost"] = k.lost;
    item["dropped"] = k.dropped;
    sinks.push_back(std::move(item));
  }
  out["sinks"] = std::move(sinks);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

module_report list_modules(const launch_options& options) {
  const detail::log_scope diagnostics(detail::make_logger(options.diagnostics));
  // Each .so is loaded in a child process: one whose code crashes is a failure in the listing.
  const detail::launch_context base(options, detail::module_loading::in_child);
  module_report report;
  report.search_path = base.module_folders;
  report.warnings = base.all_warnings();
  // What the listing has no row for (a missing folder, the owner and mode checks turned off) is
  // said on standard error too, as run and list say their warnings.
  for (const auto& w : base.warnings) detail::log().warn("{}", w);
  for (const auto& m : base.modules.entries()) {
    const auto& s = m.summary;
    const auto shadowed_by = base.modules.shadowed_by(m);
    module_info info;
    info.status = !shadowed_by.empty() ? module_status::shadowed
                  : s.failure.empty()  ? module_status::loaded
                                       : module_status::failed;
    info.kind = s.kind;
    info.name = s.name;
    info.abi_version = s.abi_version;
    info.source = m.source;
    info.description = s.description;
    info.extensions = s.extensions;
    info.built_with = s.built_with;
    info.reason = !shadowed_by.empty() ? "shadowed by " + shadowed_by : s.failure;
    report.modules.push_back(std::move(info));
  }
  for (const auto& f : base.modules.failures()) {
    module_info info;
    info.status = module_status::failed;
    info.source = f.source;
    info.reason = f.reason;
    report.modules.push_back(std::move(info));
  }
  return report;
}

std::string to_json(const module_report& r) {
  using json = nlohmann::ordered_json;
  json out;
  json path = json::array();
  for (const auto& p : r.search_path) path.push_back(p.string());
  out["search_path"] = std::move(path);
  json modules = json::array();
  for (const auto& m : r.modules) {
    json item;
    item["status"] = to_string(m.status);
    item["kind"] = m.kind ? json(to_string(*m.kind)) : json(nullptr);
    item["name"] = m.name.empty() ? json(nullptr) : json(m.name);
    item["abi_version"] =
        m.status == module_status::failed && m.name.empty() ? json(nullptr) : json(m.abi_version);
    item["source"] = m.source;
    item["description"] = m.description;
    if (m.kind == module_kind::runner) item["extensions"] = m.extensions;
    item["built_with"] = m.built_with.empty() ? json(nullptr) : json(m.built_with);
    item["reason"] = m.reason.empty() ? json(nullptr) : json(m.reason);
    modules.push_back(std::move(item));
  }
  out["modules"] = std::move(modules);
  out["warnings"] = r.warnings;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace plughost
