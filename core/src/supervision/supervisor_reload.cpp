// Reload: the configuration read again (options.reload) and applied by the machine; refused
// while stopping; bracketed by RELOADING=1 and READY=1 for systemd.
#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "supervision/supervisor_impl.hpp"

namespace plughost::detail {

namespace {

// Under the control client's 10 s: reading the configuration may load modules.
constexpr auto reload_patience = std::chrono::seconds(8);

}  // namespace

// A reload that waits for its outcome: what changed, or why nothing did (usage_error).
std::string supervisor::impl::reload_now() {
  return on_loop("plughost cannot be reloaded and waited for from the launcher's loop",
                 reload_patience, [this] { return apply_reload(); });
}

void supervisor::impl::reload() noexcept {
  try {
    const std::lock_guard lock(status_mutex_);
    if (!loop_running_) return;  // no effect outside run()
    asio::post(ioc_, [this] { reload_here(); });
  } catch (...) {
  }
}

// A reload nobody waits for: a failure was said, and everything goes on as it was.
void supervisor::impl::reload_here() noexcept {
  try {
    apply_reload();
  } catch (...) {
  }
}

// Read now; the machine decides when it applies (after the start-up, never while stopping).
// Returns what changed; throws (having said so) when the configuration could not be loaded.
std::string supervisor::impl::apply_reload() {
  if (machine_.phase() == run_phase::finished || !options_.reload) {
    throw std::runtime_error("plughost is not running its plugins");
  }
  if (machine_.phase() == run_phase::stopping) {
    log().info("reload ignored: plughost is stopping");
    throw std::runtime_error("plughost is stopping: the reload was not applied");
  }
  tell_systemd_reloading();
  std::vector<launch_item> items;
  try {
    items = options_.reload();
  } catch (const std::exception& e) {
    log().error("reload failed, everything keeps running as it was: {}", e.what());
    tell_systemd_ready();
    throw std::runtime_error(
        fmt::format("reload failed, everything keeps running as it was: {}", e.what()));
  }
  for (const auto& item : items) update_guardian_timeout(item.policy.stop_timeout);
  auto said = machine_.reload(std::move(items));
  out_.flush();
  tell_systemd_ready();
  return said;
}

}  // namespace plughost::detail
