// What the supervision state machine may do to the world, and nothing else: start a run, signal
// a process group, look at it, read or close its output, set timers, write events. The event
// loop implements it with real processes (supervisor.cpp); unit tests with a fake clock and
// fake processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "plughost/record.hpp"
#include "supervision/isolation.hpp"
#include "supervision/plugin_policy.hpp"

namespace plughost::detail {

/// A plugin's environment: the entries every plugin of a run shares (one copy for them all:
/// a thousand plugins need not hold a thousand copies of it), and its own, which win.
struct plugin_environment_entries {
  std::shared_ptr<const std::vector<std::string>> shared;  ///< NAME=VALUE; may be null
  std::vector<std::string> own;                            ///< NAME=VALUE; the last of a name wins
  /// env_remove: glob patterns (fnmatch) of names of shared entries the plugin does not get.
  /// Its own entries are never removed.
  std::vector<std::string> remove;
  /// The complete environment, for the process.
  std::vector<std::string> entries() const;
};

/// One plugin to run: its name (for records), argv, complete environment and policy.
struct launch_item {
  std::string name;
  std::vector<std::string> argv;  ///< argv[0] is the program to execute
  plugin_environment_entries environment;
  plugin_policy policy;
  /// Changes when a reload must restart the plugin (its file's content, its argv).
  std::string fingerprint;
  /// What it may use and see, applied by the spawn (cgroup, limits, user...); the launcher has
  /// already put its arguments, environment and configuration into argv and environment. One
  /// copy shared by the plugins with the same settings; null: none.
  std::shared_ptr<const plugin_isolation> isolation;
  const plugin_isolation& isolated() const {
    static const plugin_isolation none;
    return isolation ? *isolation : none;
  }
};

/// A plugin by name, across its runs; a run is one process tree of it. Never reused.
using plugin_id = std::uint64_t;
using run_id = std::uint64_t;

/// A plugin's restart timer, or one of a run's two timers (its run-time limit; its stop
/// sequence: the stop timeout, then the kill grace).
struct timer_key {
  enum class kind {
    restart,
    limit,
    stop,
    recheck,
    watchdog,
    gate,           ///< a waiting plugin's wait_for timeout (owner: its plugin_id)
    probe_startup,  ///< the three probes, in probe_kind's order
    probe_readiness,
    probe_liveness
  };
  kind what;
  std::uint64_t owner;  ///< a plugin_id for restart, else a run_id
  auto operator<=>(const timer_key&) const = default;
};

/// How a run's main process ended: its exit code, or the signal that ended it.
struct exit_status {
  bool by_signal = false;
  int value = 0;
  bool oom_killed = false;  ///< by the OOM killer of its cgroup (SIGKILL)
};

/// "SIGTERM" for 15; "SIG<n>" for a signal without a name.
std::string signal_name(int signal);

class supervision_port {
 public:
  using clock = std::chrono::steady_clock;

  virtual ~supervision_port() = default;

  virtual clock::time_point now() = 0;

  /// Starts run `id` of `item`: its main process leads a new process group and its output is
  /// read into records. Returns the main process's pid, or why it could not start.
  virtual std::variant<pid_t, std::string> spawn(run_id id, const launch_item& item) = 0;

  /// Sends `signal` to a process group.
  virtual void signal_group(pid_t group, int signal) = 0;

  /// Whether any process of the group is left.
  virtual bool group_alive(pid_t group) = 0;

  /// Whether the run's stdout or stderr pipe is still open.
  virtual bool output_open(run_id id) = 0;

  /// Reads, now, everything the run's pipes hold: what a main process wrote before it exited is
  /// in them, and is delivered before its exit event.
  virtual void drain_output(run_id id) = 0;

  /// Stops reading the run's pipes: a process outside its group holds them open after a kill.
  virtual void close_output(run_id id) = 0;

  /// The run has ended and left nothing behind: whatever the port holds for it can go.
  virtual void release(run_id id, pid_t group) = 0;

  /// Calls on_timer(key) once `after` has passed; re-arming replaces the earlier deadline.
  virtual void arm(timer_key key, clock::duration after) = 0;
  virtual void cancel(timer_key key) = 0;

  /// Whether the `block` sinks of `plugin` have room for its records. A restart waits for it:
  /// a plugin that ends at once must not fill a full queue with the events of its runs.
  virtual bool output_room(std::string_view plugin) = 0;
  /// Calls on_timer(key) once output_room(plugin); arm() and cancel() of `key` replace it.
  virtual void arm_on_room(timer_key key, std::string_view plugin) = 0;

  /// Runs one probe of run `id` (docs/health.md) within spec.timeout; its outcome comes back
  /// as the machine's on_probe_result(). At most one probe of a run at a time (the machine sees
  /// to it); release() abandons one under way.
  virtual void start_probe(run_id id, probe_kind kind, const probe_spec& spec) = 0;

  /// Tries plugin `id`'s wait_for gate (docs/health.md) every gate.every until it answers,
  /// then calls the machine's on_gate_open(id); cancel_gate() stops trying. The machine keeps
  /// the gate's timeout.
  virtual void start_gate(plugin_id id, const gate_spec& gate) = 0;
  virtual void cancel_gate(plugin_id id) = 0;
  /// Why its latest attempt failed ("answered 503"); empty when none did.
  virtual std::string gate_failure(plugin_id id) = 0;

  /// The wall clock, for schedules (restart: schedule).
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  /// A random duration from 0 to `most` (a schedule's jitter).
  virtual clock::duration random_below(clock::duration most) = 0;

  /// A record of the `event` stream.
  virtual void event(std::string_view plugin, int pid, std::string_view name,
                     std::span<const event_field> fields) = 0;

  /// Every plugin has ended and left nothing behind, and nothing will start again.
  virtual void finished() = 0;
};

}  // namespace plughost::detail
