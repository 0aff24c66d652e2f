// The launcher's run: the locations checked (or waited for), the sinks opened, the plan turned
// into what the supervisor starts, and the supervisor run, here or on a thread of its own.
#include <fmt/format.h>
#include <signal.h>

#include <map>
#include <thread>

#include "common/log.hpp"
#include "config/redaction.hpp"
#include "launcher/exec_limits.hpp"
#include "launcher/launcher_impl.hpp"
#include "launcher/plugin_environment.hpp"
#include "modules/module_registry.hpp"
#include "plughost/error.hpp"
#include "plughost/events.hpp"
#include "plughost/record.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost {

std::vector<detail::named_sink> launcher::impl::open_sinks() const {
  std::vector<detail::named_sink> out;
  for (const auto& request : settings.sinks) {
    try {
      std::function<std::shared_ptr<sink>()> again;
      if (!request.instance) {
        again = [module = request.module, values = request.values] {
          try {
            return detail::create_sink(*module, values);
          } catch (const detail::module_error& e) {
            throw std::runtime_error(e.message());
          }
        };
      }
      out.push_back({request.name, request.label,
                     request.instance ? request.instance
                                      : detail::create_sink(*request.module, request.values),
                     request.queue, std::move(again), request.instance != nullptr});
    } catch (const detail::module_error& e) {
      // Named as every message names a sink: by its name and path, not its module's file.
      throw config_error("sink " + request.label, e.message());
    }
  }
  return out;
}

void launcher::impl::report_error(const std::string& plugin, const std::string& message) {
  detail::log().error("plugin {}: {}", visible_name(plugin), message);
  const event_field fields[] = {{"message", std::string_view(message)}};
  dispatch.event(plugin, 0, events::error, fields);
}

std::vector<detail::launch_item> launcher::impl::launch_items(reporting report, bool& ok) {
  return launch_items(settings, *current_plan(), runners, report, ok);
}

namespace {

// The configuration JSON each list of redact patterns leaves (computed once per list).
using redactions = std::map<std::vector<std::string>, std::optional<std::string>>;

// A plugin's own environment: its name, its runner's variables, then what its isolation
// changes. Throws std::runtime_error naming what failed.
detail::plugin_environment_entries environment_of(
    const plughost::plugin_plan& p, const std::vector<detail::loaded_runner>& by,
    const detail::launch_settings& with,
    const std::shared_ptr<const std::vector<std::string>>& shared, redactions& redacted) {
  detail::plugin_environment_entries environment{shared, {}, {}};
  environment.own.push_back("LMCACHE_RUNTIME_PLUGIN_NAME=" + p.name);
  try {
    if (const auto* r = detail::find_runner(by, p.runner)) {
      for (const auto& [k, v] : r->impl->environment(p.path)) {
        environment.own.push_back(k + "=" + v);
      }
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("runner {} failed in environment(): {}", p.runner, e.what()));
  }
  const auto& isolation = with.isolation_for(p.name);
  auto [it, fresh] = redacted.try_emplace(isolation.redact);
  if (fresh) it->second = detail::redacted_config(with.plugin_config_json, isolation.redact);
  detail::add_isolation_entries(isolation, *shared, it->second, environment);
  return environment;
}

}  // namespace

std::vector<detail::launch_item> launcher::impl::launch_items(
    const detail::launch_settings& with, const plughost::plan& of,
    const std::vector<detail::loaded_runner>& by, reporting report, bool& ok,
    const std::atomic<bool>* abandon) {
  const auto shared_env = std::make_shared<const std::vector<std::string>>(
      detail::plugin_environment(base.env, with).entries());
  std::vector<detail::launch_item> items;
  redactions redacted;
  // One copy of each isolation (most plugins share plughost's) and its fingerprint.
  std::map<const detail::plugin_isolation*,
           std::pair<std::shared_ptr<const detail::plugin_isolation>, std::string>>
      shared_isolation;
  const auto error = [&](const std::string& plugin, const std::string& message) {
    if (report == reporting::start) report_error(plugin, message);
    if (report == reporting::reload) {  // on the planner thread: reported on the loop
      const std::lock_guard lock(reload_mutex);
      reload_errors.emplace_back(plugin, message);
    }
  };
  for (const auto& p : of.plugins) {
    if (p.decision == decision::skip) {
      if (report != reporting::start) continue;
      const event_field fields[] = {{"reason", std::string_view(p.reason)}};
      dispatch.event(p.name, 0, events::skipped, fields);
    } else if (p.decision == decision::error) {
      ok = false;
      error(p.name, p.reason);
    } else if (p.decision == decision::run) {
      detail::plugin_environment_entries environment;
      try {
        environment = environment_of(p, by, with, shared_env, redacted);
      } catch (const std::exception& e) {
        ok = false;
        error(p.name, e.what());
        continue;
      }
      // The isolation is in the fingerprint: a reload that changes it restarts the plugin.
      const auto& isolation = with.isolation_for(p.name);
      auto& [copy, print] = shared_isolation[&isolation];
      if (!copy) {
        copy = std::make_shared<const detail::plugin_isolation>(isolation);
        print = detail::text_fingerprint(detail::isolation_text(isolation));
      }
      items.push_back({p.name, p.argv, std::move(environment), with.policy_for(p.name),
                       detail::plugin_fingerprint(p.path, p.argv, abandon) + "\n" + print, copy});
    }
  }
  return items;
}

std::vector<std::filesystem::path> launcher::impl::missing_in(const detail::launch_settings& s) {
  std::vector<std::filesystem::path> out;
  for (const auto& l : s.locations) {
    std::error_code ec;
    if (std::filesystem::status(l, ec).type() == std::filesystem::file_type::not_found) {
      out.push_back(l);
    }
  }
  return out;
}

// A location that does not exist is waited for (wait_for_locations), then an error unless
// allowed (allow_missing_locations): a mistyped path must not start a host with no plugins.
void launcher::impl::check_locations() {
  auto missing = missing_locations();
  if (missing.empty()) return;
  const auto& policy = settings.missing_locations;
  if (policy.wait.count() > 0) {
    const auto initially = missing.size();
    const auto deadline = std::chrono::steady_clock::now() + policy.wait;
    // The binary's signals, while it waits (no handler is installed yet): SIGTERM and SIGINT
    // end the wait and start nothing, SIGHUP (systemctl reload) is no reason to die.
    sigset_t stop_signals, old_mask;
    ::sigemptyset(&stop_signals);
    for (const int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&stop_signals, sig);
    if (options.handle_signals) ::pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
    // Said once the signals wait for it: whoever reacts to this line may send them now.
    detail::log().info("waiting up to {}s for {} to appear",
                       std::chrono::duration<double>(policy.wait).count(),
                       missing.front().string());
    while (!missing.empty() && !stop_asked && std::chrono::steady_clock::now() < deadline) {
      if (options.handle_signals) {
        const timespec tick{0, 100'000'000};
        const int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
          detail::log().info("received {} while waiting for the locations: starting nothing",
                             sig == SIGTERM ? "SIGTERM" : "SIGINT");
          stop_asked = true;
          supervisor.stop();
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      missing = missing_locations();
    }
    if (options.handle_signals) ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    if (missing.size() < initially) {
      // What appeared is looked at again.
      auto plan = detail::build_plan(settings, runners, base.env, base.permissions);
      for (const auto& w : plan.warnings) detail::log().warn("{}", w);
      publish_plan(std::move(plan));
    }
  }
  if (missing.empty() || policy.allow_missing || stop_asked) return;
  throw config_error(settings.locations_from, missing_location_error(missing.front()));
}

// The part of a run that may throw: the sinks open, what starts is decided and reported.
std::vector<detail::launch_item> launcher::impl::begin_run() {
  {
    const std::lock_guard lock(run_mutex);
    if (began) throw usage_error("this launcher has run already: run() and start() start once");
    began = true;
  }
  detail::refuse_nesting(base.env);
  detail::refuse_doubling(base.env, settings);
  if (options.handle_signals) {
    // Until the event loop handles them: a SIGHUP (systemctl reload) or a SIGUSR1 (logrotate)
    // while plughost waits for a location or opens its sinks (a FIFO nobody reads yet) must
    // not end it with their default action. Plugins start with every signal at its default.
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGUSR1, SIG_IGN);
  }
  check_locations();
  if (settings.control_socket) dispatch.tap_into(&tap);  // for `plughost logs`
  dispatch.open(open_sinks(), settings.plugin_sinks);
  // Checked before the first spawn: otherwise every plugin fails alone with a bare "Argument
  // list too long".
  if (auto problem = detail::exec_size_problem(launch_items(reporting::none, plan_ok),
                                               detail::exec_size_limit());
      !problem.empty()) {
    throw config_error("plugin environment", problem);
  }
  auto items = launch_items(reporting::start, plan_ok);
  dispatch.flush();
  if (items.empty()) detail::log().info("no plugins to start");
  return items;
}

int launcher::impl::supervise(std::vector<detail::launch_item> items) {
  std::optional<detail::operator_endpoints> endpoints;
  if (settings.control_socket || settings.metrics) endpoints.emplace(settings, operator_calls());
  const bool ok = supervisor.run(std::move(items)) && plan_ok;
  endpoints.reset();
  const auto delivery = dispatch.close(sink_close_grace);
  if (!ok) return 1;
  return delivery.lost > 0 ? 3 : 0;
}

void launcher::impl::start() {
  auto items = begin_run();
  thread = std::thread([this, items = std::move(items)]() mutable {
    const detail::log_scope scope(logger);
    try {
      exit_code = supervise(std::move(items));
    } catch (...) {
      failure = std::current_exception();
    }
  });
}

int launcher::impl::wait() {
  if (on_own_thread()) {
    throw usage_error(
        "wait() called from one of the launcher's own threads (a sink or a diagnostics "
        "handler) would wait for itself");
  }
  const std::lock_guard lock(wait_mutex);
  if (!thread.joinable() && !joined) throw usage_error("wait() needs a launcher that start()ed");
  if (!joined) {
    thread.join();
    joined = true;
  }
  if (failure) std::rethrow_exception(failure);
  return exit_code;
}

}  // namespace plughost
