// What the supervisor tells systemd (options.notifier): READY=1 once every plugin has started
// and after a reload, RELOADING=1 before it, STOPPING=1, and WATCHDOG=1 from the loop.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <time.h>

#include "plughost/sink_helpers.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

// Every plugin has started or failed to; after a reload, the reload was applied. With
// ready_requires_plugins, also every plugin marked `required` is ready (docs/health.md): until
// then STATUS= names them, and each run that becomes ready asks again.
void supervisor::impl::tell_systemd_ready() {
  if (!notifier() || stop_requested_) return;
  std::size_t running = 0;
  std::vector<std::string> waiting;
  const auto plugins = machine_.plugins();
  for (const auto& p : plugins) {
    running += p.state == plugin_state::running ? 1 : 0;
    if (options_.ready_requires_plugins && p.required && !p.ready()) {
      waiting.push_back(visible_name(p.name));
    }
  }
  ready_waits_ = !waiting.empty();
  if (ready_waits_) {
    notifier()->notify(fmt::format("STATUS=waiting for required plugins to be ready: {}",
                                   fmt::join(waiting, ", ")));
    return;
  }
  notifier()->notify(
      fmt::format("READY=1\nSTATUS={} of {} plugins running", running, plugins.size()));
}

// A reload begins: systemd's reload command waits for the READY=1 that follows.
void supervisor::impl::tell_systemd_reloading() {
  if (!notifier()) return;
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  notifier()->notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}",
                                 static_cast<std::uint64_t>(t.tv_sec) * 1000000 +
                                     static_cast<std::uint64_t>(t.tv_nsec) / 1000));
}

void supervisor::impl::tell_systemd_stopping() {
  if (notifier() && !told_stopping_) notifier()->notify("STOPPING=1");
  told_stopping_ = true;
}

// WATCHDOG=1 from the loop itself: a loop that hangs stops sending it, and systemd acts.
void supervisor::impl::watchdog() {
  if (!notifier() || !notifier()->watchdog_period()) return;
  if (!watchdog_timer_) watchdog_timer_.emplace(ioc_);
  notifier()->notify("WATCHDOG=1");
  watchdog_timer_->expires_after(*notifier()->watchdog_period());
  watchdog_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec && machine_.phase() != run_phase::finished) watchdog();
  });
}

}  // namespace plughost::detail
