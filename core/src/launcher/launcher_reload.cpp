// Reload planning: the configuration and the locations read again, and what the supervisor is
// to run from now on (supervisor_options::reload).
#include <algorithm>

#include "common/log.hpp"
#include "launcher/exec_limits.hpp"
#include "launcher/launcher_impl.hpp"
#include "plughost/error.hpp"

namespace plughost {

// For a reload, on the supervisor's planner thread: the configuration and the locations read
// again. The module search path and the sinks stay as they were (changing them needs a restart
// of plughost); a module found at start that the configuration now uses is loaded.
std::vector<detail::launch_item> launcher::impl::reload_items(const std::atomic<bool>& abandon) {
  {
    const std::lock_guard lock(reload_mutex);
    reload_warnings.clear();
    reload_errors.clear();
  }
  // Said on plughost's stderr and, by `plughost reload`, to whoever asked for the reload.
  const std::function<void(const std::string&)> warn = [this](const std::string& w) {
    detail::log().warn("{}", w);
    const std::lock_guard lock(reload_mutex);
    reload_warnings.push_back(w);
  };
  // What loading modules for the new configuration had to say, said once.
  const auto said = base.all_warnings();
  const auto news = [&] {
    std::vector<std::string> out;
    for (auto& w : base.all_warnings()) {
      if (std::find(said.begin(), said.end(), w) == said.end()) out.push_back(std::move(w));
    }
    return out;
  };
  try {
    auto config = detail::load_configuration(options, base.env);
    auto fresh = detail::resolve_settings(options, base.env, config, base.modules);
    // A location that has gone (a typo, a volume unmounted) would stop its plugins: refused
    // as at the start, unless allowed; everything then keeps running.
    if (const auto gone = missing_in(fresh);
        !gone.empty() && !fresh.missing_locations.allow_missing) {
      throw config_error(fresh.locations_from,
                         missing_location_error(gone.front(), {.allow_missing = false}));
    }
    auto warnings = news();
    auto fresh_runners = detail::load_runners(fresh, warnings);
    auto fresh_plan = detail::build_plan(fresh, fresh_runners, base.env, base.permissions);
    for (const auto& w : warnings) warn(w);
    for (const auto& w : fresh_plan.warnings) warn(w);
    warn_of_what_stays(fresh, warn);
    // Every plugin can still be started with what the new configuration gives it (a larger
    // configuration, a runner's variables): else the reload is refused, and nothing changes.
    // Its errors are reported only if the reload applies (report_reload_errors).
    bool ok = true;
    auto items = launch_items(fresh, fresh_plan, fresh_runners, reporting::reload, ok, &abandon);
    if (auto problem = detail::exec_size_problem(items, detail::exec_size_limit());
        !problem.empty()) {
      throw config_error("plugin environment", problem);
    }
    adopt(std::move(fresh), std::move(fresh_runners), std::move(fresh_plan));
    return items;
  } catch (const std::exception&) {
    for (const auto& w : news()) detail::log().warn("{}", w);
    throw;  // the supervisor says it failed, and why
  }
}

// The new settings, runners and plan replace the old; what a reload does not change stays.
void launcher::impl::adopt(detail::launch_settings fresh,
                           std::vector<detail::loaded_runner> fresh_runners,
                           plughost::plan fresh_plan) {
  fresh.control_socket = settings.control_socket;
  fresh.control_socket_named = settings.control_socket_named;
  fresh.metrics = settings.metrics;
  fresh.sinks = std::move(settings.sinks);
  settings = std::move(fresh);
  runners = std::move(fresh_runners);
  publish_plan(std::move(fresh_plan));
}

// What a reload does not change (the sinks, the control socket, the metrics endpoint) is said
// when the new configuration changes it.
void launcher::impl::warn_of_what_stays(const detail::launch_settings& fresh,
                                        const std::function<void(const std::string&)>& warn) const {
  std::vector<std::string> old_sinks, new_sinks;
  for (const auto& s : settings.sinks) old_sinks.push_back(s.label);
  for (const auto& s : fresh.sinks) new_sinks.push_back(s.label);
  if (old_sinks != new_sinks || settings.plugin_sinks != fresh.plugin_sinks) {
    warn("sink changes take effect when plughost starts again; the sinks stay as they are");
  }
  const auto metrics_text = [](const auto& m) { return m ? m->text : std::string("none"); };
  if (fresh.control_socket != settings.control_socket ||
      metrics_text(fresh.metrics) != metrics_text(settings.metrics)) {
    warn(
        "control_socket and metrics_address changes take effect when plughost starts "
        "again; they stay as they are");
  }
}

// On the loop, as the reload applies: the plugins of the new plan that cannot start.
void launcher::impl::report_reload_errors() {
  std::vector<std::pair<std::string, std::string>> errors;
  {
    const std::lock_guard lock(reload_mutex);
    errors.swap(reload_errors);
  }
  for (const auto& [plugin, message] : errors) report_error(plugin, message);
}

}  // namespace plughost
