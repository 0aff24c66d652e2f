// systemd's readiness protocol (sd_notify(3)), spoken directly: datagrams to $NOTIFY_SOCKET
// (a path, or an abstract name starting with '@'), never blocking. Also the watchdog interval
// from $WATCHDOG_USEC when $WATCHDOG_PID is this process or unset.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/environment.hpp"

namespace plughost::detail {

class systemd_notifier {
 public:
  /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env`; does nothing without them.
  explicit systemd_notifier(const environment_block& env);
  ~systemd_notifier();
  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;

  bool active() const noexcept { return fd_ >= 0; }
  /// Sends `state` ("READY=1", "STOPPING=1", "WATCHDOG=1", several separated by newlines).
  /// Returns whether it went out; a failure is logged once.
  bool notify(std::string_view state) noexcept;
  /// How often to send WATCHDOG=1 (half the interval systemd waits), when asked for.
  std::optional<std::chrono::microseconds> watchdog_period() const noexcept { return period_; }

 private:
  int fd_ = -1;
  std::string address_;  // as given; '@' stands for the abstract namespace's NUL
  std::optional<std::chrono::microseconds> period_;
  bool failed_before_ = false;
};

}  // namespace plughost::detail
