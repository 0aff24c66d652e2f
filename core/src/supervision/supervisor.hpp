// The supervisor: the supervision state machine (supervision_machine.hpp) on one Asio event loop,
// with real processes, pipes, timers and signals; reaping as a child subreaper; the guardian.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/systemd_notify.hpp"
#include "output/record_dispatch.hpp"
#include "plughost/launcher.hpp"
#include "supervision/supervision_port.hpp"

namespace plughost::detail {

struct supervisor_options {
  /// SIGTERM/SIGINT stop the plugins (a second one, a second later, kills them); SIGHUP reloads.
  bool handle_signals = false;
  /// Called by reload(), reload_now() and SIGHUP on a planner thread of the supervisor's (one at
  /// a time; the loop goes on meanwhile, and applies the outcome): the new set of plugins;
  /// throws, saying why, when the configuration could not be loaded (everything then keeps
  /// running as it is). Must touch nothing the loop thread does.
  /// `abandon` turns true once plughost is stopping: a long planning (hashing a huge plugin
  /// file) may then give up, throwing, so that the stop does not wait for it.
  std::function<std::vector<launch_item>(const std::atomic<bool>& abandon)> reload;
  /// Stop every plugin when this process exits (0: our parent), even when it is killed: the
  /// stop then gives plugins at most parent_exit_grace after their stop signal.
  std::optional<int> exit_with;
  /// Reap every child that exits (see launch_options::reap_all_children), not only those in
  /// plugins' process groups.
  bool reap_all_children = false;
  /// Be a child subreaper and handle SIGCHLD (launch_options::child_subreaper_and_sigchld_handler);
  /// otherwise each main process is watched through a pidfd.
  bool subreaper = false;
  /// Raise the soft RLIMIT_NOFILE to the hard one while running.
  bool raise_open_file_limit = false;
  /// Tells systemd READY=1 once every plugin has started (or failed to), RELOADING=1 and
  /// READY=1 around a reload, STOPPING=1, and WATCHDOG=1 from the loop when asked for. May be
  /// null.
  std::shared_ptr<systemd_notifier> notifier;
  /// With handle_signals: what SIGUSR1 does (the sinks made again).
  std::function<void()> reopen;
  /// Called on the loop thread right before what `reload` planned is applied (not when it is
  /// refused: plughost is stopping): records of what planning found are written then, since
  /// only the loop thread writes records. May be empty.
  std::function<void()> reload_planned;
  /// plughost.cgroups: "auto" (a cgroup per plugin where plughost can make one) or "off".
  std::string cgroups = "auto";
  /// Where each run's credentials folder is made (docs/isolation.md); empty: none can be.
  std::filesystem::path credentials;
  /// READY=1 also waits until every plugin marked `required` is ready (docs/health.md).
  bool ready_requires_plugins = false;
  /// plughost.ordered_stop: the shutdown stops plugins in the reverse of their order (docs/
  /// health.md).
  bool ordered_stop = false;
  /// plughost.watch: "" (off), "notify" or "scan"; and the locations it watches.
  std::string watch;
  std::vector<std::filesystem::path> watch_locations;
};

/// How long plugins get after their stop signal when the process plughost exits with is gone:
/// nobody waits for a graceful stop any more, and whatever restarts that process (a container
/// runtime, systemd) may start new plugins beside the old ones.
inline constexpr std::chrono::seconds parent_exit_grace{1};

class supervisor {
 public:
  supervisor(record_dispatch& out, supervisor_options options);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Starts every item and supervises until no plugin is left (every main process reaped, every
  /// process group empty, no restart pending), or until stop() and the stop sequence ended.
  /// Returns true when no plugin failed for good (exited non-zero or by a signal on its own
  /// without a restart to follow, gave up restarting, timed out, or could not start).
  /// Runs the event loop on the calling thread; call once.
  bool run(std::vector<launch_item> items);

  /// Starts the stop sequence. Thread-safe; before run(), run() returns without starting.
  void stop() noexcept;

  /// Re-reads the configuration (options.reload, on the planner thread) and applies it on the
  /// loop. Requests made while one is being planned are merged into one more planning after
  /// it. Thread-safe.
  void reload() noexcept;
  /// The same, waiting for its outcome (up to 8 s): returns what changed; throws usage_error
  /// saying why nothing did. Thread-safe, not from the loop.
  std::string reload_now();

  /// A copy of the snapshot the loop keeps. Thread-safe.
  launcher_status status() const;

  enum class by_hand { stop, start, restart };
  /// Stops, starts or restarts one plugin by hand (supervision_machine::stop_by_hand...) on the
  /// loop; waits for it (up to 5 s). Returns what happened; throws usage_error. Thread-safe.
  std::string act(by_hand what, std::string_view plugin);

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace plughost::detail
