// The states and events of supervision: the whole run's phase, a plugin across its runs, one run
// of it. supervision_table.hpp says what each event does in each state.
#pragma once

#include <cstddef>
#include <string_view>

namespace plughost::detail {

/// The whole run. starting: the first plugins are being started (nothing can finish the run
/// yet); running; stopping: every run is being stopped and nothing starts any more; finished:
/// everything has ended and left nothing behind.
enum class run_phase { starting, running, stopping, finished };

/// What happens to the whole run.
enum class phase_event {
  started_all,   ///< start-up is over
  stop,          ///< the shutdown: SIGTERM, stop(), the end of the process plughost exits with
  stop_again,    ///< a stop signal while stopping (a second SIGTERM means "kill now")
  cap_grace,     ///< the stop may take at most so long after each stop signal
  reload,        ///< the configuration was read again
  nothing_left,  ///< no run is left (settle)
};

/// A plugin across its runs. The first five have a current run; the others do not.
enum class plugin_state {
  starting,          ///< being spawned (a spawn is synchronous: only seen from inside it)
  running,           ///< its current run's main process runs (a time limit may be stopping it)
  stopping_by_hand,  ///< stopped by hand, its run being stopped: then `held`
  restarting,        ///< its run is being stopped, and it starts again once the run has ended
  replacing,         ///< a reload changed its file: the run is stopped, then the new one starts
  stopping,          ///< the shutdown is stopping its run: then `stopped`
  backoff,           ///< its run ended; the restart timer is set
  held,              ///< stopped by hand: stays stopped until started, restarted or reloaded
  exited,            ///< its run ended well and it does not restart
  failed,            ///< ended for good in failure: exited non-zero or by a signal on its own
                     ///< without a restart to follow, gave up restarting, or could not start
  stopped,           ///< stopped by the shutdown
  retired,           ///< removed by a reload: its run is stopped, and it never starts again
  waiting,           ///< its next run waits for the plugins it comes after or requires, and for
                     ///< its wait_for gate (docs/health.md)
};
inline constexpr std::size_t plugin_state_count = 13;

/// What happens to a plugin.
enum class plugin_event {
  run_ended,        ///< its current run's main process ended, or its spawn failed
  restart_due,      ///< its restart timer (or its room in a full sink came)
  reload_same,      ///< a reload kept its file (by fingerprint): maybe a new policy
  reload_changed,   ///< a reload changed its file or argv, or brought a removed plugin back
  reload_removed,   ///< a reload removed it
  stop_by_hand,     ///< the control socket
  start_by_hand,    ///< the control socket
  restart_by_hand,  ///< the control socket
  shutdown,         ///< the whole run stops
  may_start,        ///< (waiting) what it waits for is there: the plugins, then its gate
  gate_failed,      ///< (waiting) its wait_for gate did not answer within its timeout
  required_failed,  ///< (waiting, running) a plugin it requires failed for good, or is not run
};
inline constexpr std::size_t plugin_event_count = 12;

/// One run of a plugin, as its stop sequence sees it: whether its main process still runs
/// (the first three), has exited but the plugin has not heard of it yet (draining), or has
/// exited with something of the run (its group, its pipes) left (lingering...).
enum class run_state {
  running,             ///< main process runs, not signalled
  stopping,            ///< main process runs; stop signal sent, SIGKILL at the stop timeout
  killing,             ///< main process runs; SIGKILL sent, pipes closed after the kill grace
  draining,            ///< main process exited; its exit waits until its output has room
  lingering,           ///< main process exited; its group or pipes live on
  lingering_stopping,  ///< the same, with a stop signal sent to what is left
  lingering_killing,   ///< the same, with SIGKILL sent to what is left
};
inline constexpr std::size_t run_state_count = 7;

/// What happens to a run.
enum class run_event {
  main_exit,     ///< its main process was reaped
  exit_held,     ///< its main process was reaped, but its output waits for room first
  exit_drained,  ///< a held exit's output has been read
  time_limit,    ///< its run-time limit (policy timeout) passed
  stop,          ///< stop it (by hand, a reload, the shutdown, a restart's leftovers)
  kill,          ///< SIGKILL now (a second SIGTERM)
  stop_timer,    ///< its stop timeout or its kill grace passed
  recheck,       ///< look at its group and pipes again
  cap_grace,     ///< the stop grace was capped: a later SIGKILL comes sooner
  unhealthy,     ///< its health failed for good (its watchdog): stopped, and that is a failure
};
inline constexpr std::size_t run_event_count = 10;

/// How a run of a plugin is doing, as it says itself (docs/health.md). A run of a plugin that
/// does not say when it is ready is `ready` as soon as it runs.
enum class health_state {
  starting,   ///< runs, and has not said it is ready yet
  ready,      ///< said it is ready
  unhealthy,  ///< was ready, and is no longer (STOPPING=1, its readiness probe failing)
};
inline constexpr std::size_t health_state_count = 3;

/// What a run says about itself, or what its silence means.
enum class health_event {
  ready,      ///< READY=1, a newline on its notify_fd, a matching line, its probes passed
  not_ready,  ///< STOPPING=1 (it is on its way out), its readiness probe failed
  watchdog,   ///< WATCHDOG=1: alive
  failed,     ///< no WATCHDOG=1 for its watchdog time (or WATCHDOG=trigger), its liveness or
              ///< startup probe failed: the run must go
};
inline constexpr std::size_t health_event_count = 4;

std::string_view to_string(run_phase p) noexcept;
std::string_view to_string(phase_event e) noexcept;
std::string_view to_string(plugin_state s) noexcept;
std::string_view to_string(plugin_event e) noexcept;
std::string_view to_string(run_state s) noexcept;
std::string_view to_string(run_event e) noexcept;
std::string_view to_string(health_state s) noexcept;
std::string_view to_string(health_event e) noexcept;

/// Whether a plugin in `s` has a current run.
constexpr bool has_run(plugin_state s) noexcept {
  return s == plugin_state::running || s == plugin_state::stopping_by_hand ||
         s == plugin_state::restarting || s == plugin_state::replacing ||
         s == plugin_state::stopping;
}

/// Whether a run in `s` has had its main process exit (and the plugin hear of it).
constexpr bool main_ended(run_state s) noexcept {
  return s == run_state::lingering || s == run_state::lingering_stopping ||
         s == run_state::lingering_killing;
}

}  // namespace plughost::detail
