// The embeddable launcher: builds the stages for one run (settings, runners, plan) and is the
// public face of launcher.hpp. The run, reload planning and status are in launcher_impl.hpp's
// files.
#include "plughost/launcher.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.hpp"
#include "launcher/launcher_impl.hpp"
#include "plughost/error.hpp"
#include "plughost/sink.hpp"
#include "plughost/sink_helpers.hpp"

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

// callback_sink(): a function as a sink.
class function_sink final : public sink {
 public:
  explicit function_sink(std::function<void(const record&)> f) : f_(std::move(f)) {}
  void write(const record& r) override { f_(r); }
  void flush() override {}

 private:
  std::function<void(const record&)> f_;
};

// Where each run's credentials folder is made (docs/isolation.md): as root, a folder of its own
// that every plugin user may pass through (the control sockets' is root's alone); else in
// plughost's runtime folder, since the plugins then run as plughost's user.
std::filesystem::path credentials_folder(const detail::environment_block& env) {
  if (::geteuid() == 0) return "/run/plughost-credentials";
  return detail::runtime_folder(env) / "credentials";
}

}  // namespace

std::shared_ptr<sink> callback_sink(std::function<void(const record&)> on_record) {
  if (!on_record) throw usage_error("callback_sink needs a function");
  return std::make_shared<function_sink>(std::move(on_record));
}

launcher::impl::impl(const launch_options& o, std::shared_ptr<spdlog::logger> l)
    : logger(std::move(l)),
      options(o),
      base(options),
      settings(resolve_or_explain(options, base)),
      supervisor(
          dispatch,
          {options.handle_signals,
           [this](const std::atomic<bool>& abandon) { return reload_items(abandon); },
           options.exit_with, options.reap_all_children,
           options.child_subreaper_and_sigchld_handler, options.raise_open_file_limit,
           options.notify_systemd ? std::make_shared<detail::systemd_notifier>(base.env) : nullptr,
           [this] { reopen_sinks(); }, [this] { report_reload_errors(); }, settings.cgroups,
           credentials_folder(base.env), settings.ready_requires_plugins, settings.ordered_stop,
           settings.watch, settings.locations}) {
  auto warnings = base.all_warnings();  // after the settings: they load the modules they use
  runners = detail::load_runners(settings, warnings);
  auto plan = detail::build_plan(settings, runners, base.env, base.permissions);
  warnings.insert(warnings.end(), plan.warnings.begin(), plan.warnings.end());
  plan.warnings = std::move(warnings);
  // A location run() refuses is its error, not also a warning before it.
  std::vector<std::string> refused;
  if (!settings.missing_locations.allow_missing && settings.missing_locations.wait.count() == 0) {
    for (const auto& location : missing_locations()) {
      plan.location_errors.push_back(
          config_error(settings.locations_from, missing_location_error(location)).what());
      refused.push_back(fmt::format("plugin location {} does not exist", location.string()));
    }
  }
  for (const auto& w : plan.warnings) {
    if (std::find(refused.begin(), refused.end(), w) == refused.end()) {
      detail::log().warn("{}", w);
    }
  }
  publish_plan(std::move(plan));
}

std::shared_ptr<const plughost::plan> launcher::impl::current_plan() const {
  const std::lock_guard lock(plan_mutex);
  return the_plan;
}

void launcher::impl::publish_plan(plughost::plan p) {
  auto fresh = std::make_shared<const plughost::plan>(std::move(p));
  const std::lock_guard lock(plan_mutex);
  the_plan = std::move(fresh);  // the one it replaces is freed by its last reader
}

std::string launcher::impl::missing_location_error(const std::filesystem::path& location) const {
  return missing_location_error(location, settings.missing_locations);
}

std::string launcher::impl::missing_location_error(const std::filesystem::path& location,
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

// ---- the public face ---------------------------------------------------------------------------

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

plughost::plan launcher::plan() const {
  return *impl_->current_plan();  // copied outside the lock: a reload need not wait for it
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
