// How one plugin is supervised: restarts with backoff, a run-time limit, how it is stopped.
#pragma once

#include <signal.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::detail {

enum class restart_mode { never, on_failure, always, interval, schedule };

class cron_schedule;
class time_zone;
/// restart: schedule (docs/running.md, "Schedules"): when its runs start, in which time zone.
struct timetable {
  std::string text;                           ///< the schedule as configured
  std::string zone_name = "UTC";              ///< timezone
  std::shared_ptr<const cron_schedule> cron;  ///< both read at load
  std::shared_ptr<const time_zone> zone;
  bool operator==(const timetable& o) const { return text == o.text && zone_name == o.zone_name; }
};

/// A probe's kind, in the order they begin: startup first (the others wait until it passed).
enum class probe_kind : std::uint8_t { startup, readiness, liveness };
inline constexpr std::size_t probe_kind_count = 3;
/// "startup", "readiness", "liveness".
std::string_view to_string(probe_kind k) noexcept;

/// One probe (docs/health.md), with Kubernetes' meanings: run every `period` from
/// `initial_delay` after the run started, each at most `timeout`; `failure_threshold` failures
/// in a row fail it, `success_threshold` successes in a row pass it.
struct probe_spec {
  enum class method : std::uint8_t { exec, http, tcp };
  method how = method::tcp;
  std::vector<std::string> argv;  ///< exec: the command, argv[0] found on PATH
  std::string host;               ///< http, tcp
  std::uint16_t port = 0;
  std::string path = "/";  ///< http: the request target
  std::string target;      ///< as configured, for messages
  std::chrono::nanoseconds period = std::chrono::seconds(10);
  std::chrono::nanoseconds timeout = std::chrono::seconds(1);
  std::chrono::nanoseconds initial_delay{0};
  int failure_threshold = 3;
  int success_threshold = 1;
  bool operator==(const probe_spec&) const = default;
};

/// What a plugin waits for in another (docs/health.md, "Order and gates"): that it runs, that
/// it is ready (a plugin that does not say when it is ready is as soon as it runs), or that it
/// ended well.
enum class wait_condition : std::uint8_t { started, ready, completed };
/// "started", "ready", "completed".
std::string_view to_string(wait_condition c) noexcept;
std::optional<wait_condition> parse_wait_condition(std::string_view text);

/// One plugin another waits for before each start: `after` only orders (a plugin this plughost
/// does not run, or one that failed for good, is not waited for); `requires` also needs it (the
/// waiting plugin fails when it cannot be had, and a running one stops when it fails for good).
struct dependency {
  std::string name;
  wait_condition until = wait_condition::ready;
  bool required = false;
  bool operator==(const dependency&) const = default;
};

/// wait_for: something outside plughost that must answer before each start of the plugin: an
/// HTTP server (200 to 399), a TCP port, a file that exists. Tried every `every` until `timeout`.
struct gate_spec {
  enum class method : std::uint8_t { http, tcp, file };
  method how = method::tcp;
  probe_spec check;    ///< http and tcp: host, port, path (its timeout: one attempt's)
  std::string file;    ///< file: the path
  std::string target;  ///< as configured, for messages
  std::chrono::nanoseconds timeout = std::chrono::minutes(10);
  std::chrono::nanoseconds every = std::chrono::milliseconds(100);
  bool operator==(const gate_spec&) const = default;
};

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
  /// Its probes, by probe_kind; none by default. One copy shared by every plugin configured
  /// alike (a policy is copied into each plugin and each run: a thousand plugins need not hold
  /// a thousand copies), compared by value.
  struct probe_slots {
    using set = std::array<std::optional<probe_spec>, probe_kind_count>;
    std::shared_ptr<const set> shared;
    bool operator==(const probe_slots& o) const {
      static const set none;
      return (shared ? *shared : none) == (o.shared ? *o.shared : none);
    }
  };
  probe_slots probes;
  /// Plugins it waits for before each start, and what it waits for outside plughost.
  std::vector<dependency> waits_for;
  struct gate_slot {  // one copy shared, as probes
    std::shared_ptr<const gate_spec> shared;
    bool operator==(const gate_slot& o) const {
      return shared == o.shared || (shared && o.shared && *shared == *o.shared);
    }
  };
  gate_slot gate;
  /// restart: schedule: its timetable (one copy shared, as probes), a random delay of up to
  /// `jitter` before each run, and whether it also runs when plughost starts.
  struct timetable_slot {
    std::shared_ptr<const struct timetable> shared;
    bool operator==(const timetable_slot& o) const {
      return shared == o.shared || (shared && o.shared && *shared == *o.shared);
    }
  };
  timetable_slot timetable;
  std::chrono::nanoseconds jitter{0};
  bool run_at_start = false;
  int max_concurrent = 1;  ///< only 1: checked at load

  const std::optional<probe_spec>& probe(probe_kind k) const {
    static const std::optional<probe_spec> none;
    return probes.shared ? (*probes.shared)[static_cast<std::size_t>(k)] : none;
  }
  /// Sets (or, with nullopt, clears) one probe, the others kept.
  void set_probe(probe_kind k, std::optional<probe_spec> p) {
    auto copy =
        std::make_shared<probe_slots::set>(probes.shared ? *probes.shared : probe_slots::set{});
    (*copy)[static_cast<std::size_t>(k)] = std::move(p);
    probes.shared = std::move(copy);
  }
  /// Whether a run says itself when it is ready, or a probe says it (else it is ready once it
  /// runs).
  bool signals_ready() const {
    return notify || notify_fd > 0 || !ready_log.empty() || probe(probe_kind::readiness) ||
           probe(probe_kind::startup);
  }
  /// Whether something other than the startup probe says when a run is ready (else passing
  /// the startup probe makes it ready).
  bool readiness_said_otherwise() const {
    return notify || notify_fd > 0 || !ready_log.empty() || probe(probe_kind::readiness);
  }

  bool operator==(const plugin_policy&) const = default;

  /// The delay before restart number `attempt` (1-based): restart_delay doubled per attempt,
  /// at most restart_delay_max.
  std::chrono::nanoseconds backoff(int attempt) const {
    auto d = restart_delay;
    for (int i = 1; i < attempt && d < restart_delay_max; ++i) d *= 2;
    return d < restart_delay_max ? d : restart_delay_max;
  }
};

/// What `p` waits for before each start, in words: "requires server.py (ready)", "after
/// setup.sh (completed)", "wait_for http://127.0.0.1:8000/health".
std::vector<std::string> describe_waits(const plugin_policy& p);

/// "never", "on-failure", "always", "interval", "schedule".
std::optional<restart_mode> parse_restart_mode(std::string_view text);
std::string_view to_string(restart_mode m);

/// The signal named "SIGTERM" (or "TERM"); nullopt for an unknown name.
std::optional<int> parse_signal(std::string_view name);

}  // namespace plughost::detail
