// The supervision state machine: the state of the whole run, of every plugin and of every run of
// a plugin, and every transition between them, in one place (docs/architecture.md has the
// tables). It does nothing by itself: what it decides goes through a supervision_port, so that
// it runs the same on the event loop and in unit tests with a fake clock and fake processes.
//
// Threading: one thread, the one that calls its events. Events may not be called from inside
// the port's calls, except on_output_closed (a drain can reach the end of a pipe).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervision/supervision_port.hpp"

namespace plughost::detail {

/// The whole run. starting: the first plugins are being started (nothing can finish the run
/// yet); running; stopping: every run is being stopped and nothing starts any more; finished:
/// everything has ended and left nothing behind.
enum class run_phase { starting, running, stopping, finished };

/// A plugin across its runs.
enum class plugin_state {
  starting,   ///< being spawned (a spawn is synchronous: only seen from inside it)
  running,    ///< its current run's main process runs (or is being stopped)
  backoff,    ///< its run ended; the restart timer is set
  replacing,  ///< a reload changed its file: the current run is stopped, then the new starts
  exited,     ///< its run ended well and it does not restart
  failed,     ///< ended for good in failure: exited non-zero or by a signal on its own without
              ///< a restart to follow, gave up restarting, timed out, or could not start
  stopped,    ///< its run was stopped by the shutdown
  retired,    ///< removed by a reload: its run is stopped, and it never starts again
};

/// One run of a plugin, from the stop sequence's point of view.
enum class run_state {
  running,   ///< main process runs, not signalled
  draining,  ///< main process exited; its pipes or its process group are not empty yet
  stopping,  ///< stop signal sent to the group; SIGKILL when the stop timeout passes
  killing,   ///< SIGKILL sent; its pipes are closed if still held after the kill grace
};

std::string_view to_string(run_phase p) noexcept;
std::string_view to_string(plugin_state s) noexcept;
std::string_view to_string(run_state s) noexcept;

/// After SIGKILL, how long pipes may stay open before plughost closes them itself (a process
/// outside the plugin's group, e.g. one that called setsid(), can hold them).
inline constexpr std::chrono::seconds kill_grace{1};

class supervision_machine {
 public:
  using clock = supervision_port::clock;

  explicit supervision_machine(supervision_port& port) : port_(port) {}
  supervision_machine(const supervision_machine&) = delete;
  supervision_machine& operator=(const supervision_machine&) = delete;

  // ---- events -------------------------------------------------------------------------------

  /// A new plugin (during start-up, or from a reload): starts its first run.
  void add(launch_item item);
  /// Start-up is over: from now on, the run finishes when nothing is left.
  void started_all();
  /// Stops every plugin (their stop signals, then SIGKILL after their stop timeouts); nothing
  /// starts again. Once is enough: a second call changes nothing.
  void stop(std::string_view reason);
  /// While stopping: SIGKILL to every run now.
  void kill_all();
  /// No plugin gets more than `cap` after its stop signal from now on; stops everything.
  void cap_stop_grace(clock::duration cap, std::string_view reason);
  /// The configuration read again: starts the new plugins, restarts the changed ones (by
  /// fingerprint), stops the removed ones, and gives the unchanged ones their new policy for
  /// their next run. During start-up it waits for started_all(); while stopping it is ignored.
  std::string reload(std::vector<launch_item> items);

  /// By hand (the control socket): stops one plugin and keeps it stopped (no restart, the run
  /// goes on without it) until start_by_hand(), restart_by_hand() or a reload. Returns what
  /// happened, in words ("stopping", "was not running"); throws std::invalid_argument naming
  /// what is wrong (no such plugin, plughost is stopping).
  std::string stop_by_hand(std::string_view name);
  /// Starts a plugin that is not running (ended, failed, waiting to restart, stopped by hand),
  /// with its restart count in a row at zero.
  std::string start_by_hand(std::string_view name);
  /// Stops the plugin's current run and starts it again once the run has ended; starts it when
  /// it is not running.
  std::string restart_by_hand(std::string_view name);

  void on_main_exit(run_id id, exit_status status);
  void on_output_closed(run_id id);
  /// A process of some group was reaped: has a run left nothing behind?
  void on_group_change();
  void on_timer(timer_key key);

  // ---- what it is in ------------------------------------------------------------------------

  run_phase phase() const noexcept { return phase_; }
  /// Whether some plugin has failed for good (plugin_state::failed), retired ones included.
  bool any_failed() const;

  struct plugin_view {
    std::string name;
    plugin_state state;
    std::optional<run_id> current;
    std::optional<run_state> current_state;
    pid_t pid = 0;  ///< of the current run
    int restarts_in_a_row = 0;
    std::uint64_t restarts = 0;                     ///< runs its restart policy started, in all
    std::optional<clock::time_point> since;         ///< when the current run started
    std::optional<exit_status> last_exit;           ///< how its last run's main process ended
    std::optional<clock::time_point> next_restart;  ///< backoff: when the restart is due
    /// "stopped" or "started" when the plugin was stopped or started by hand since the last
    /// reload; empty otherwise.
    std::string by_hand;
    /// How its runs' main processes ended, in all: by exit code, and by signal name.
    std::map<int, std::uint64_t> exit_codes;
    std::map<std::string, std::uint64_t> exit_signals;
  };
  /// Every plugin, retired ones too, in the order they were added.
  std::vector<plugin_view> plugins() const;
  /// The same, one at a time (a status of thousands of plugins without a second copy).
  void visit_plugins(const std::function<void(plugin_view&&)>& f) const;
  std::size_t plugin_count() const noexcept { return plugins_.size(); }
  /// Runs that have not yet left nothing behind (a plugin's current one, and earlier ones
  /// still being stopped).
  std::size_t live_runs() const noexcept { return runs_.size(); }

 private:
  struct plugin {
    plugin_id id = 0;
    launch_item item;
    std::optional<launch_item> replacement;  // replacing: what starts once the run has ended
    plugin_state state = plugin_state::starting;
    std::optional<run_id> current;
    int attempts = 0;            // restarts in a row, for the backoff and max_restarts
    std::uint64_t restarts = 0;  // in all, for status
    std::optional<exit_status> last_exit;
    clock::time_point restart_due{};
    // It ended for good in failure: kept when a reload then retires it (the run still failed).
    bool failed = false;
    // Stopped by hand: stays stopped (and keeps the run going) until started or reloaded.
    bool held = false;
    bool started_by_hand = false;
    bool restart_when_ended = false;  // restart_by_hand() while it ran
    std::string start_error;          // why its latest start failed
    std::map<int, std::uint64_t> exit_codes;
    std::map<std::string, std::uint64_t> exit_signals;
  };
  struct run {
    run_id id = 0;
    plugin_id owner = 0;
    std::string name;
    pid_t pid = 0;  // also its process group
    plugin_policy policy;
    clock::time_point started;
    run_state state = run_state::running;
    bool main_exited = false;
    bool stopped_by_us = false;  // signalled while its main process ran
    bool timed_out = false;
    clock::time_point stop_deadline;             // stopping: when SIGKILL follows
    std::optional<clock::time_point> stop_sent;  // when its stop signal went to the group
    clock::duration recheck_after{};             // main exited, group and pipes live on: next look
  };

  // Transitions of a plugin.
  void start_run(plugin& p);
  void run_ended(plugin& p, bool failed, clock::duration ran_for);
  void schedule_restart(plugin& p, bool failed, clock::duration ran_for);
  void on_restart_due(plugin& p);
  void change(plugin& p, launch_item item);
  bool retire(plugin& p);
  bool revive(launch_item& item);
  bool stop_leftovers(plugin& p, std::string_view reason);
  plugin& by_hand(std::string_view name);
  std::string start_again(plugin& p);
  // Transitions of a run.
  void on_time_limit(run& r);
  void stop_run(run& r, std::string_view reason);
  void kill_run(run& r);
  void on_stop_timer(run& r);
  void close_held_output(run& r);
  void arm_stop(run& r, clock::duration grace);
  clock::duration stop_grace(const run& r) const;
  void begin_stopping(std::string_view reason);

  // Frees runs that left nothing behind; finishes the run when nothing is left.
  void settle();
  bool done(const run& r);

  plugin* find_plugin(plugin_id id);
  run* find_run(run_id id);

  supervision_port& port_;
  run_phase phase_ = run_phase::starting;
  std::map<plugin_id, plugin> plugins_;       // every plugin ever added, retired ones too
  std::map<std::string, plugin_id> by_name_;  // the ones not retired
  std::map<run_id, run> runs_;                // until they leave nothing behind
  std::uint64_t next_id_ = 1;
  clock::duration stop_grace_cap_ = clock::duration::max();
  int depth_ = 0;  // events in progress: only the outermost one settles
  std::optional<std::vector<launch_item>> pending_reload_;  // asked for during start-up
};

}  // namespace plughost::detail
