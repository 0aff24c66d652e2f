// The embeddable launcher: puts the stages together for one run (settings, runners, plan,
// sinks, supervisor) and applies reloads.
#include "plughost/launcher.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "common/log.hpp"
#include "config/launch_settings.hpp"
#include "control/operator_endpoints.hpp"
#include "launcher/exec_limits.hpp"
#include "launcher/launch_context.hpp"
#include "launcher/plugin_environment.hpp"
#include "modules/module_registry.hpp"
#include "output/record_dispatch.hpp"
#include "plan/plan_builder.hpp"
#include "plughost/error.hpp"
#include "plughost/events.hpp"
#include "plughost/record.hpp"
#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"
#include "supervision/supervisor.hpp"

namespace plughost {

namespace {

// A configuration that cannot be resolved stops everything; what was found on the way may be
// why (`--sink x` fails as an unknown sink when the module x was refused or failed to load), so
// it is said first.
detail::launch_settings resolve_or_explain(const launch_options& options,
                                           const detail::launch_context& base) {
  try {
    return detail::resolve_settings(options, base.env, base.config, base.modules);
  } catch (const error&) {
    for (const auto& w : base.all_warnings()) detail::log().warn("{}", w);
    throw;
  }
}

}  // namespace

namespace {

// callback_sink(): a function as a sink.
class function_sink final : public sink {
 public:
  explicit function_sink(std::function<void(const record&)> f) : f_(std::move(f)) {}
  void write(const record& r) override { f_(r); }
  void flush() override {}

 private:
  std::function<void(const record&)> f_;
};

}  // namespace

std::shared_ptr<sink> callback_sink(std::function<void(const record&)> on_record) {
  if (!on_record) throw usage_error("callback_sink needs a function");
  return std::make_shared<function_sink>(std::move(on_record));
}

struct launcher::impl {
  impl(const launch_options& o, std::shared_ptr<spdlog::logger> l)
      : logger(std::move(l)),
        options(o),
        base(options),
        settings(resolve_or_explain(options, base)),
        supervisor(dispatch,
                   {options.handle_signals, [this] { return reload_items(); }, options.exit_with,
                    options.reap_all_children, options.child_subreaper_and_sigchld_handler,
                    options.raise_open_file_limit,
                    options.notify_systemd ? std::make_shared<detail::systemd_notifier>(base.env)
                                           : nullptr,
                    [this] { reopen_sinks(); }}) {
    auto warnings = base.all_warnings();  // after the settings: they load the modules they use
    runners = detail::load_runners(settings, warnings);
    the_plan = detail::build_plan(settings, runners, base.env, base.permissions);
    warnings.insert(warnings.end(), the_plan.warnings.begin(), the_plan.warnings.end());
    the_plan.warnings = std::move(warnings);
    // A location run() refuses is its error, not also a warning before it.
    std::vector<std::string> refused;
    if (!settings.missing_locations.allow_missing && settings.missing_locations.wait.count() == 0) {
      for (const auto& location : missing_locations()) {
        the_plan.location_errors.push_back(
            config_error(settings.locations_from, missing_location_error(location)).what());
        refused.push_back(fmt::format("plugin location {} does not exist", location.string()));
      }
    }
    for (const auto& w : the_plan.warnings) {
      if (std::find(refused.begin(), refused.end(), w) == refused.end()) {
        detail::log().warn("{}", w);
      }
    }
  }

  // What run() says of a location that does not exist (after waiting for it, if it did), after
  // where the locations came from.
  std::string missing_location_error(const std::filesystem::path& location) const {
    return missing_location_error(location, settings.missing_locations);
  }
  static std::string missing_location_error(const std::filesystem::path& location,
                                            const detail::location_policy& policy) {
    return fmt::format(
        "plugin location {} does not exist{}; create it, or run without it "
        "(--allow-missing-locations, plughost.allow_missing_locations: true), or wait {} "
        "(--wait-for-locations {}, plughost.wait_for_locations)",
        location.string(),
        policy.wait.count() > 0
            ? fmt::format(" after waiting {}s", std::chrono::duration<double>(policy.wait).count())
            : std::string(),
        policy.wait.count() > 0 ? "longer for it" : "for it",
        policy.wait.count() > 0 ? "DURATION" : "30s");
  }

  std::vector<detail::named_sink> open_sinks() const {
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

  void report_error(const std::string& plugin, const std::string& message) {
    detail::log().error("plugin {}: {}", visible_name(plugin), message);
    const event_field fields[] = {{"message", std::string_view(message)}};
    dispatch.event(plugin, 0, events::error, fields);
  }

  // What launch_items() reports: at the start, the plan's errors and skips; at a reload, its
  // errors; before a reload is applied (to check it), nothing.
  enum class reporting { start, reload, none };

  // The plugins of a plan (the current one, by default) that should run, as the supervisor
  // takes them. Reports as `report` says; `ok` turns false on an error.
  std::vector<detail::launch_item> launch_items(reporting report, bool& ok) {
    return launch_items(settings, the_plan, runners, report, ok);
  }
  std::vector<detail::launch_item> launch_items(const detail::launch_settings& with,
                                                const plughost::plan& of,
                                                const std::vector<detail::loaded_runner>& by,
                                                reporting report, bool& ok) {
    const auto shared_env = std::make_shared<const std::vector<std::string>>(
        detail::plugin_environment(base.env, with).entries());
    std::vector<detail::launch_item> items;
    const auto error = [&](const std::string& plugin, const std::string& message) {
      if (report != reporting::none) report_error(plugin, message);
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
        detail::plugin_environment_entries environment{shared_env, {}};
        environment.own.push_back("LMCACHE_RUNTIME_PLUGIN_NAME=" + p.name);
        try {
          if (const auto* r = detail::find_runner(by, p.runner)) {
            for (const auto& [k, v] : r->impl->environment(p.path)) {
              environment.own.push_back(k + "=" + v);
            }
          }
        } catch (const std::exception& e) {
          ok = false;
          error(p.name, fmt::format("runner {} failed in environment(): {}", p.runner, e.what()));
          continue;
        }
        items.push_back({p.name, p.argv, std::move(environment), with.policy_for(p.name),
                         detail::plugin_fingerprint(p.path, p.argv)});
      }
    }
    return items;
  }

  // On the loop thread, for a reload: the configuration and the locations read again. The
  // module search path and the sinks stay as they were (changing them needs a restart of
  // plughost); a module found at start that the configuration now uses is loaded.
  std::vector<detail::launch_item> reload_items() {
    {
      const std::lock_guard lock(reload_mutex);
      reload_warnings.clear();
    }
    // Said on plughost's stderr and, by `plughost reload`, to whoever asked for the reload.
    const auto warn = [this](const std::string& w) {
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
      // Every plugin can still be started with what the new configuration gives it (a larger
      // configuration, a runner's variables): else the reload is refused, and nothing changes.
      bool fits = true;
      const auto limit = detail::exec_size_limit();
      if (auto problem = detail::exec_size_problem(
              launch_items(fresh, fresh_plan, fresh_runners, reporting::none, fits), limit);
          !problem.empty()) {
        throw config_error("plugin environment", problem);
      }
      fresh.control_socket = settings.control_socket;
      fresh.control_socket_named = settings.control_socket_named;
      fresh.metrics = settings.metrics;
      fresh.sinks = std::move(settings.sinks);
      settings = std::move(fresh);
      runners = std::move(fresh_runners);
      the_plan = std::move(fresh_plan);
      bool ok = true;
      return launch_items(reporting::reload, ok);
    } catch (const std::exception&) {
      for (const auto& w : news()) detail::log().warn("{}", w);
      throw;  // the supervisor says it failed, and why
    }
  }

  // The locations that do not exist (a path that cannot be read otherwise is the plan's warning).
  std::vector<std::filesystem::path> missing_locations() const { return missing_in(settings); }
  static std::vector<std::filesystem::path> missing_in(const detail::launch_settings& s) {
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
  void check_locations() {
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
        the_plan = detail::build_plan(settings, runners, base.env, base.permissions);
        for (const auto& w : the_plan.warnings) detail::log().warn("{}", w);
      }
    }
    if (missing.empty() || policy.allow_missing || stop_asked) return;
    throw config_error(settings.locations_from, missing_location_error(missing.front()));
  }

  // The part of a run that may throw: the sinks open, what starts is decided and reported.
  std::vector<detail::launch_item> begin_run() {
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

  // The supervisor's snapshot, with which run this is.
  launcher_status status() const {
    auto s = supervisor.status();
    if (s.pid != 0) {
      s.who = who;
      s.parent_pid = parent_pid;
    }
    return s;
  }

  void reopen_sinks() noexcept {
    const std::lock_guard lock(run_mutex);
    if (began) dispatch.reopen();
  }

  // What the control socket and the metrics endpoint may ask.
  detail::operator_calls operator_calls() {
    detail::operator_calls calls;
    calls.status = [this] { return status(); };
    calls.act = [this](std::string_view what, std::string_view plugin) {
      using enum detail::supervisor::by_hand;
      return supervisor.act(what == "stop" ? stop : what == "start" ? start : restart, plugin);
    };
    calls.reload = [this] {
      auto said = supervisor.reload_now();
      const std::lock_guard lock(reload_mutex);
      for (const auto& w : reload_warnings) said += "\n" + w;
      return said;
    };
    calls.reopen = [this] { reopen_sinks(); };
    calls.tap = settings.control_socket ? &tap : nullptr;
    return calls;
  }

  int supervise(std::vector<detail::launch_item> items) {
    std::optional<detail::operator_endpoints> endpoints;
    if (settings.control_socket || settings.metrics) endpoints.emplace(settings, operator_calls());
    const bool ok = supervisor.run(std::move(items)) && plan_ok;
    endpoints.reset();
    const auto delivery = dispatch.close(sink_close_grace);
    if (!ok) return 1;
    return delivery.lost > 0 ? 3 : 0;
  }

  void start() {
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

  // Whether this thread is one of this launcher's (its loop, its sinks' writers): a callback.
  bool on_own_thread() const { return detail::current_logger() == logger; }

  int wait() {
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

  std::shared_ptr<spdlog::logger> logger;  // where this launcher's messages go
  launch_options options;
  detail::launch_context base;
  detail::launch_settings settings;
  // Copies for status() from other threads (a reload replaces `settings` on the loop thread).
  const identity who = settings.who;
  const int parent_pid = settings.parent_pid;
  // After the plugins have stopped, how long the sinks get to write what they still hold.
  static constexpr auto sink_close_grace = std::chrono::seconds(5);

  detail::record_tap tap;  // before the dispatch, which hands it batches
  detail::record_dispatch dispatch;
  detail::supervisor supervisor;
  std::vector<detail::loaded_runner> runners;
  plughost::plan the_plan;

  bool plan_ok = true;                  // no plugin of the plan was an error
  std::atomic<bool> stop_asked{false};  // stop() was called: waiting for locations ends
  std::mutex run_mutex;
  bool began = false;
  // What the latest reload warned of (written on the loop, read by `plughost reload`'s answer).
  std::mutex reload_mutex;
  std::vector<std::string> reload_warnings;
  // start(): the thread that runs, and what it returned or threw.
  std::thread thread;
  std::mutex wait_mutex;
  bool joined = false;
  int exit_code = 0;
  std::exception_ptr failure;
};

launcher::launcher(const launch_options& options) {
  auto logger = detail::make_logger(options.diagnostics);
  const detail::log_scope scope(logger);
  impl_ = std::make_unique<impl>(options, std::move(logger));
}

launcher::~launcher() {
  if (impl_->on_own_thread()) {
    // From a sink or a handler of its own: destroying it would wait for the very thread this
    // is. It is left as it is (and runs on); that is a bug of the program's, said loudly.
    detail::log().error(
        "a launcher was destroyed from one of its own threads (a sink or a diagnostics handler): "
        "it is left running and never freed");
    static_cast<void>(impl_.release());
    return;
  }
  if (impl_->thread.joinable()) {
    impl_->supervisor.stop();
    try {
      impl_->wait();
    } catch (...) {  // what it threw was the program's to ask for with wait()
    }
  }
}

const plughost::plan& launcher::plan() const noexcept {
  return impl_->the_plan;
}

int launcher::run() {
  const detail::log_scope scope(impl_->logger);
  return impl_->supervise(impl_->begin_run());
}

void launcher::start() {
  const detail::log_scope scope(impl_->logger);
  impl_->start();
}

int launcher::wait() {
  return impl_->wait();
}

launcher_status launcher::status() const {
  return impl_->status();
}

void launcher::stop() noexcept {
  impl_->stop_asked = true;
  impl_->supervisor.stop();
}

void launcher::reload() noexcept {
  impl_->supervisor.reload();
}

void launcher::reopen_sinks() noexcept {
  impl_->reopen_sinks();
}

std::string launcher::stop_plugin(std::string_view name) {
  return impl_->supervisor.act(detail::supervisor::by_hand::stop, name);
}

std::string launcher::start_plugin(std::string_view name) {
  return impl_->supervisor.act(detail::supervisor::by_hand::start, name);
}

std::string launcher::restart_plugin(std::string_view name) {
  return impl_->supervisor.act(detail::supervisor::by_hand::restart, name);
}

}  // namespace plughost
