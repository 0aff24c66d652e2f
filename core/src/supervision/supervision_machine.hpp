// The supervision state machine: the state of the whole run, of every plugin and of every run of
// a plugin; every transition goes through a cell of supervision_table.hpp (docs/architecture.md
// shows the tables). It does nothing by itself: what it decides goes through a supervision_port, so
// that it runs the same on the event loop and in unit tests with a fake clock and fake processes.
//
// Threading: one thread, the one that calls its events. Events may not be called from inside
// the port's calls, except on_output_closed (a drain can reach the end of a pipe).
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "supervision/supervision_port.hpp"
#include "supervision/supervision_states.hpp"
#include "supervision/supervision_table.hpp"

namespace plughost::detail {

/// After SIGKILL, how long pipes may stay open before plughost closes them itself (a process
/// outside the plugin's group, e.g. one that called setsid(), can hold them).
inline constexpr std::chrono::seconds kill_grace{1};

/// A repeated stop signal within this is the same request (timeout(1) signals a child and then
/// its whole group); later, it means "kill now".
inline constexpr std::chrono::seconds stop_signal_debounce{1};

// What an event brings with it.
struct plugin_input {
  std::optional<launch_item> item;  // reload_*: the plugin as the configuration says now
  bool failed = false;              // run_ended
  supervision_port::clock::duration ran_for{};  // run_ended
};
struct run_input {
  exit_status status{};                     // main_exit, exit_held
  std::string_view reason;                  // stop
  supervision_port::clock::duration cap{};  // cap_grace
};
struct phase_input {
  std::string_view reason;                        // stop, stop_again, cap_grace
  supervision_port::clock::duration cap{};        // cap_grace
  std::optional<std::vector<launch_item>> items;  // reload
};

class supervision_machine {
 public:
  using clock = supervision_port::clock;

  explicit supervision_machine(supervision_port& port) : port_(port) {}
  supervision_machine(const supervision_machine&) = delete;
  supervision_machine& operator=(const supervision_machine&) = delete;

  // ---- events -------------------------------------------------------------------------------

  /// A new plugin (during start-up): starts its first run. Ignored once stopping.
  void add(launch_item item);
  /// Start-up is over: from now on, the run finishes when nothing is left.
  void started_all();
  /// Stops every plugin (their stop signals, then SIGKILL after their stop timeouts); nothing
  /// starts again. Once is enough: a second call changes nothing.
  void stop(std::string_view reason);
  /// A stop signal (SIGTERM, SIGINT) named `signal`: the first stops everything, as stop(); one
  /// that comes stop_signal_debounce or more after it kills every run now. Returns whether
  /// this one began the stop.
  bool stop_signal(std::string_view signal);
  /// No plugin gets more than `cap` after its stop signal from now on; stops everything.
  void cap_stop_grace(clock::duration cap, std::string_view reason);

  struct reload_result {
    bool applied = false;  ///< false: ignored (plughost is stopping)
    std::string said;      ///< what changed, in words
  };
  /// The configuration read again: starts the new plugins, restarts the changed ones (by
  /// fingerprint), stops the removed ones, and gives the unchanged ones their new policy for
  /// their next run. During start-up it waits for started_all(); while stopping it is ignored.
  reload_result reload(std::vector<launch_item> items);

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
  /// The main process exited, but what its pipes hold waits for room in a full `block` sink:
  /// its exit (and what the plugin does next) waits for on_exit_drained(), unless the run is
  /// stopped meanwhile (its output is then read at once).
  void on_exit_held(run_id id, exit_status status);
  void on_exit_drained(run_id id);
  void on_output_closed(run_id id);
  /// A process of some group was reaped: has a run left nothing behind?
  void on_group_change();
  void on_timer(timer_key key);
  /// What run `id` says about its health (docs/health.md): `how` names what said it ready
  /// ("notify", "notify_fd", "log") or why it failed ("watchdog"). Runs that ended are left
  /// alone.
  void on_health(run_id id, health_event e, std::string_view how = {});
  /// The outcome of the probe start_probe() began; `message` says why it failed.
  void on_probe_result(run_id id, probe_kind kind, bool passed, std::string message);
  /// Its STATUS= text, shown by status.
  void on_status_text(run_id id, std::string text);
  /// The wait_for gate start_gate() tries for plugin `id` answered.
  void on_gate_open(plugin_id id);
  /// plughost.ordered_stop: the shutdown stops a plugin only once every plugin that comes
  /// after it or requires it has ended (the reverse of the start order).
  void set_ordered_stop(bool on) noexcept { ordered_stop_ = on; }
  /// plughost.watch: the run goes on when nothing runs any more (a file may yet come), until
  /// it is stopped.
  void set_keep_running(bool on) noexcept { keep_running_ = on; }
  /// Why the next reload comes ("watch: /plugins/a.py changed"): said with what it changed,
  /// and, when it changed nothing, not said at all. Empty: a reload asked for.
  void set_reload_cause(std::string cause) { reload_cause_ = std::move(cause); }

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
    plugin_id id = 0;
    const plugin_isolation* isolation = nullptr;  ///< valid while the view is visited
    /// Its current run's health (none without a current run), and how long the run took to
    /// be ready.
    std::optional<health_state> health;
    std::optional<clock::duration> ready_after;
    std::string status_text;  ///< its current run's latest STATUS=
    bool signals_ready = false;
    bool required = false;
    /// Its runs stopped for their health, by reason ("watchdog").
    std::map<std::string, std::uint64_t> health_failures;
    /// Order and gates: what it waits for now (waiting), what it waited for before its latest
    /// start and how long, and when it first started and was first ready (from the first add).
    std::string waiting_for;
    std::string waited_for;
    std::optional<clock::duration> waited;
    std::optional<clock::duration> first_started, first_ready;
    /// What it waits for before each start, as configured: "requires all_a.py (ready)",
    /// "after all_b.py (started)", "wait_for http://…".
    std::vector<std::string> depends_on;
    bool scheduled = false;  ///< restart: schedule (its backoff is the wait for its next run)
    /// Whether its current run runs and is ready.
    bool ready() const {
      return health == health_state::ready && current_state == run_state::running;
    }
  };
  /// Every plugin, retired ones too, in the order they were added.
  std::vector<plugin_view> plugins() const;
  /// The same, one at a time (a status of thousands of plugins without a second copy).
  void visit_plugins(const std::function<void(plugin_view&&)>& f) const;
  std::size_t plugin_count() const noexcept { return plugins_.size(); }
  /// Runs that have not yet left nothing behind (a plugin's current one, and earlier ones
  /// still being stopped).
  std::size_t live_runs() const noexcept { return runs_.size(); }
  struct run_view {
    run_id id = 0;
    plugin_id owner = 0;
    run_state state = run_state::running;
    pid_t pid = 0;
  };
  /// Every run not yet released, current or earlier.
  std::vector<run_view> runs() const;
  /// What the machine's own invariants say is wrong (one current run per plugin, a run for
  /// exactly the states that have one, every transition ending where its cell says): empty
  /// when all hold. For tests; cheap enough to call after every event.
  std::vector<std::string> broken_invariants() const;

  /// How often each cell of plugin_table and run_table ran: tests check that their walks reach
  /// every cell that can happen.
  using plugin_visits =
      std::array<std::array<std::uint64_t, plugin_event_count>, plugin_state_count>;
  using run_visits = std::array<std::array<std::uint64_t, run_event_count>, run_state_count>;
  const plugin_visits& plugin_cell_visits() const noexcept { return plugin_visits_; }
  const run_visits& run_cell_visits() const noexcept { return run_visits_; }
  using health_visits =
      std::array<std::array<std::uint64_t, health_event_count>, health_state_count>;
  const health_visits& health_cell_visits() const noexcept { return health_visits_; }

 private:
  struct plugin {
    plugin_id id = 0;
    launch_item item;
    std::optional<launch_item> replacement;  // exactly while replacing: what starts next
    plugin_state state = plugin_state::starting;
    std::optional<run_id> current;
    int attempts = 0;            // restarts in a row, for the backoff and max_restarts
    std::uint64_t restarts = 0;  // in all, for status
    std::optional<exit_status> last_exit;
    clock::time_point restart_due{};
    bool failed_for_good = false;  // see supervision_table.hpp: data, not a state
    bool started_by_hand = false;  // the same
    std::string start_error;       // why its latest start failed
    std::map<int, std::uint64_t> exit_codes;
    std::map<std::string, std::uint64_t> exit_signals;
    std::map<std::string, std::uint64_t> health_failures;
    // Order and gates (order_transitions.cpp).
    std::string waiting_for;                // waiting: what it waits for, in words
    std::string waited_for;                 // before its latest start
    std::vector<std::string> wait_reasons;  // each waiting_for of this wait, once
    clock::time_point wait_began{};
    std::optional<clock::duration> waited;
    bool gate_asked = false;        // waiting: its gate is being tried (and its timeout armed)
    bool gate_open = false;         // waiting: its gate answered
    std::string gate_failure;       // why its gate's latest attempt failed, once it timed out
    bool lost_requirement = false;  // failed: for a plugin it requires (may start once back)
    std::optional<clock::time_point> first_started, first_ready;
    std::int64_t last_slot = 0;  // restart: schedule: the time (UTC seconds) last scheduled
  };
  struct run {
    run_id id = 0;
    plugin_id owner = 0;
    std::string name;
    pid_t pid = 0;  // also its process group
    plugin_policy policy;
    clock::time_point started;
    run_state state = run_state::running;
    bool timed_out = false;                      // see supervision_table.hpp
    exit_status held_exit{};                     // draining: how its main process ended
    clock::time_point stop_deadline;             // when SIGKILL follows the stop signal
    std::optional<clock::time_point> stop_sent;  // when its stop signal went to the group
    clock::duration recheck_after{};             // main exited, group and pipes live on: next look
    health_state health = health_state::ready;   // starting when it says itself when it is ready
    std::optional<clock::time_point> ready_at;
    std::string status_text;
    std::string_view unhealthy_for;  // why its health stopped it (a failure, as timed_out)
    struct probe_count {
      int passed = 0, failed = 0;  // in a row
      std::optional<bool> last;    // its latest outcome
    };
    std::array<probe_count, probe_kind_count> probes{};
    std::array<clock::time_point, probe_kind_count> probe_began{};  // the next: a period on
    unsigned probes_due = 0;     // bits by probe_kind: due while another probe ran
    bool probe_running = false;  // at most one probe of a run at a time
    bool started_up = true;      // false until its startup probe passed
    bool held_back = false;      // the ordered stop has not stopped it yet
  };
  struct reload_tally {
    std::size_t started = 0, restarted = 0, stopped = 0, resumed = 0;
  };

  // The three dispatchers: the cell of the table, its action, and a check of where it ended.
  std::string on(phase_event e, phase_input in = {});
  std::string on(plugin& p, plugin_event e, plugin_input in = {});
  void on(run& r, run_event e, run_input in = {});
  std::string act(phase_action a, phase_input& in);
  std::string act(plugin& p, plugin_action a, plugin_input& in);
  std::string act_on_request(plugin& p, plugin_action a, plugin_input& in);
  std::string act_by_hand(plugin& p, plugin_action a);
  std::string resume(plugin& p, plugin_action a, launch_item item);
  void act(run& r, run_action a, const run_input& in);
  void on(run& r, health_event e, std::string_view how);
  void act(run& r, health_action a, std::string_view how);
  template <typename E>
  std::string in_event(E&& handle);

  // Order and gates (order_transitions.cpp).
  struct verdict {
    enum class is { go, wait, cannot } what = is::go;
    std::string why;
    bool gate = false;  // wait: for its gate (the plugins it waits for are there)
  };
  verdict judge(const plugin& p) const;
  bool must_wait(plugin& p);
  void look_at_waiting();
  void stop_waiting(plugin& p);
  void note_wait(plugin& p, const std::string& why);
  void gate_timed_out(plugin& p);
  void fail_waiting(plugin& p);
  void lose_requirement(plugin& p);
  void dependents_lose(const plugin& p, std::string_view why);
  bool may_stop_now(plugin_id owner, const std::set<plugin_id>& live) const;
  void stop_in_order();
  void release_held_back();

  // The whole run's actions.
  void start_running();
  void stop_all(std::string_view reason);
  void kill_if_repeated();
  void shorten_stops(clock::duration cap);
  std::string defer_reload(std::vector<launch_item> items);
  std::string apply_reload(std::vector<launch_item> items);
  void reload_one(launch_item item, reload_tally& tally);
  void finish_if_idle();
  // A plugin's actions.
  void start_run(plugin& p, bool waited = false);
  std::string start_anew(plugin& p, std::string_view reason);
  void by_policy(plugin& p, bool failed, clock::duration ran_for);
  void end_for_good(plugin& p, bool failed);
  void schedule(plugin& p, clock::duration delay);
  void schedule_run(plugin& p, std::optional<clock::duration> ran_for);
  void restart(plugin& p);
  void keep_policy(plugin& p, launch_item item);
  std::string retire(plugin& p);
  void come_back(plugin& p, launch_item item);
  void stop_current(plugin& p, std::string_view reason);
  std::string start_if_stopping(plugin& p);
  bool stop_leftovers(plugin& p, std::string_view reason);
  plugin& by_hand(std::string_view name);
  std::string by_hand_event(std::string_view name, plugin_event e);
  // A run's actions.
  void exit(run& r, exit_status status);
  void time_out(run& r);
  void signal_stop(run& r, std::string_view reason);
  void signal_kill(run& r);
  void close_held_output(run& r);
  void recheck_later(run& r);
  void arm_stop(run& r, clock::duration grace);
  void fail_health(run& r);
  // Its health.
  void mark_ready(run& r, std::string_view how);
  void fail_run(run& r, std::string_view why);
  void cancel_health_timers(const run& r);
  // Its probes.
  void arm_probes(run& r);
  void probe_due(run& r, probe_kind kind);
  void run_due_probe(run& r);
  void probe_outcome(run& r, probe_kind kind, bool passed, const std::string& message);
  clock::duration stop_grace(const run& r) const;

  // Frees runs that left nothing behind; finishes the run when nothing is left.
  void settle();
  bool done(const run& r);
  void violated(std::string what);

  plugin* find_plugin(plugin_id id);
  run* find_run(run_id id);

  supervision_port& port_;
  run_phase phase_ = run_phase::starting;
  std::map<plugin_id, plugin> plugins_;       // every plugin ever added, retired ones too
  std::map<std::string, plugin_id> by_name_;  // the ones not retired
  std::map<run_id, run> runs_;                // until they leave nothing behind
  std::set<run_id> ended_;       // those of runs_ whose main process ended: all settle() looks at
  std::set<plugin_id> waiting_;  // plugins that may be waiting: all look_at_waiting() looks at
  bool ordered_stop_ = false;
  bool keep_running_ = false;
  std::string reload_cause_;
  std::string stop_reason_;                 // what the ordered stop says to the runs it held back
  std::optional<clock::time_point> began_;  // the first add: status --chain counts from it
  std::uint64_t next_id_ = 1;
  clock::duration stop_grace_cap_ = clock::duration::max();
  clock::time_point stop_began_{};
  int depth_ = 0;  // events in progress: only the outermost one settles
  std::optional<std::vector<launch_item>> pending_reload_;  // asked for during start-up
  reload_tally* tally_ = nullptr;                           // of the reload being applied
  plugin_visits plugin_visits_{};
  run_visits run_visits_{};
  health_visits health_visits_{};
  std::vector<std::string> violations_;  // transitions that ended outside their cell
};

// Every event counts its depth: nested events (a drain that reaches the end of a pipe calls
// on_output_closed; a spawn that fails ends the run it began) leave the settling to the
// outermost one.
template <typename E>
inline std::string supervision_machine::in_event(E&& handle) {
  struct depth {
    int& d;
    explicit depth(int& at) : d(++at) {}
    ~depth() { --d; }
  } in(depth_);
  std::string said = handle();
  // Still inside the event: what settling sets off (a drain that reaches the end of a pipe)
  // is a nested event, and does not settle again under this one.
  if (depth_ == 1) settle();
  return said;
}

}  // namespace plughost::detail
