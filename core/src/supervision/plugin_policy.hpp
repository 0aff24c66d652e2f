// How one plugin is supervised: restarts with backoff, a run-time limit, how it is stopped.
#pragma once

#include <signal.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace plughost::detail {

enum class restart_mode { never, on_failure, always, interval };

/// The member initializers mirror core/data/defaults.yaml, where the defaults are set (a test
/// checks that they agree): plughost itself always starts from that file.
struct plugin_policy {
  restart_mode restart = restart_mode::never;  ///< LMCache never restarts
  std::chrono::nanoseconds restart_delay = std::chrono::seconds(1);
  std::chrono::nanoseconds restart_delay_max = std::chrono::seconds(60);
  /// A run at least this long resets the backoff and the restart count.
  std::chrono::nanoseconds restart_reset_after = std::chrono::seconds(60);
  /// Restarts allowed in a row (runs shorter than restart_reset_after) before giving up.
  int max_restarts = 5;
  std::optional<std::chrono::nanoseconds> timeout;  ///< wall-clock limit of one run
  std::chrono::nanoseconds stop_timeout = std::chrono::seconds(5);
  int stop_signal = SIGTERM;
  bool enabled = true;
  /// restart: interval: from one start to the next (a run still going then is not overlapped:
  /// the next starts when it ends).
  std::chrono::nanoseconds interval{0};

  // Readiness and liveness (docs/health.md). Without any of the first three, a plugin is ready
  // once it runs.
  bool notify = false;    ///< its own NOTIFY_SOCKET (sd_notify: READY=1, WATCHDOG=1, STATUS=...)
  int notify_fd = 0;      ///< a newline on this descriptor says it is ready (s6's way); 0: none
  std::string ready_log;  ///< ready_when.log: ready when a line of its output matches (grep -E)
  /// notify: a run that sends no WATCHDOG=1 for this long is stopped as failed; 0: none.
  std::chrono::nanoseconds watchdog{0};
  /// /readyz (and plughost's own READY=1 with ready_requires_plugins) waits for it.
  bool required = false;

  /// Whether a run says itself when it is ready (else it is ready once it runs).
  bool signals_ready() const { return notify || notify_fd > 0 || !ready_log.empty(); }

  bool operator==(const plugin_policy&) const = default;

  /// The delay before restart number `attempt` (1-based): restart_delay doubled per attempt,
  /// at most restart_delay_max.
  std::chrono::nanoseconds backoff(int attempt) const {
    auto d = restart_delay;
    for (int i = 1; i < attempt && d < restart_delay_max; ++i) d *= 2;
    return d < restart_delay_max ? d : restart_delay_max;
  }
};

/// "never", "on-failure", "always", "interval".
std::optional<restart_mode> parse_restart_mode(std::string_view text);
std::string_view to_string(restart_mode m);

/// The signal named "SIGTERM" (or "TERM"); nullopt for an unknown name.
std::optional<int> parse_signal(std::string_view name);

}  // namespace plughost::detail
