// A run's processes as supervision sees them: signalled together, alive while any of them is.
// The implementation here is a process group plus what left it (setsid(), setpgid()), found by
// the run's mark in their environment; a cgroup per run can replace it behind the same calls.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "supervision/supervision_port.hpp"

namespace plughost::detail {

/// The variable every plugin process carries: "<plughost's pid>:<run>" (docs/running.md).
inline constexpr std::string_view run_mark_variable = "PLUGHOST_RUN";
/// What the mark adds to a plugin's exec at most: "PLUGHOST_RUN=" and two numbers, its NUL and
/// its pointer (for the size check against the kernel's limit).
inline constexpr std::size_t run_mark_size = 64;

class run_processes {
 public:
  virtual ~run_processes() = default;
  /// The environment entry ("NAME=value") that run `id` starts with.
  virtual std::string mark(run_id id) const = 0;
  /// Run `id` has started: its main process leads `group`.
  virtual void started(run_id id, pid_t group) = 0;
  /// Sends `signal` to every process of the run whose group is `group`.
  virtual void signal(pid_t group, int signal) = 0;
  /// Whether any process of that run is left (those outside its group: not counting zombies).
  virtual bool alive(pid_t group) = 0;
  /// That run left nothing behind: forgotten.
  virtual void ended(pid_t group) = 0;
};

/// Process groups, and what left them found through /proc: among the descendants of `host`
/// (plughost is their subreaper, so orphans stay its descendants), those outside every run's
/// group that carry a run's mark (or descend from one that does). `own` is a child of
/// plughost's that is never a run's (the guardian): not looked at.
std::unique_ptr<run_processes> make_group_run_processes(pid_t host, pid_t own);

}  // namespace plughost::detail
