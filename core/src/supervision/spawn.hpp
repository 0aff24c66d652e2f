// Starting one plugin process (Boost.Process v2): its environment, stdin from /dev/null, two
// output pipes, no other descriptors, default signals, its own process group.
#pragma once

#include <sched.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace plughost::detail {

/// What every spawn needs from the host; prepared once.
struct spawn_context {
  int devnull = -1;         ///< /dev/null, read-write, close-on-exec: the plugins' stdin
  struct rlimit nofile {};  ///< the descriptor limit plugins get (the host's original one)
  pid_t host_pid = 0;
  /// Descriptors held in reserve and released during each launch: once the child runs,
  /// Boost.Process needs four more (a pidfd and an io_context's epoll set) and would lose the
  /// new process if it could not get them. Filled by reserve_descriptors().
  int reserve[4] = {-1, -1, -1, -1};
  /// The guardian's socket (-1: none). Each plugin registers its process group there itself,
  /// between fork and exec, so that the guardian knows it before any plugin code runs; a host
  /// killed right after the exec leaves nothing behind.
  int guardian_fd = -1;
  /// Set by the child (the vfork shares the host's memory) once it registered its group: after
  /// a failed exec, the caller tells the guardian to forget it.
  pid_t registered = 0;
  /// Three low descriptors (duplicates of /dev/null between launches) that hold a launch's
  /// stdin, stdout and stderr: all a child needs of the host's descriptor table is below
  /// them, so that it takes a table of its own with only those (clone_launcher.hpp), however
  /// many pipes the host holds. Filled by make_stdio_slots().
  int stdio[3] = {-1, -1, -1};
  /// A fourth such slot: a launch's notify_fd pipe (child_plan::notify_source) is there.
  int notify = -1;
};

/// Fills context.stdio (once, early, while low numbers are free). False when it cannot.
bool make_stdio_slots(spawn_context& context);
void close_stdio_slots(spawn_context& context);

/// Fills context.reserve (duplicates of /dev/null). Returns false when the limit is reached.
bool reserve_descriptors(spawn_context& context);
void release_descriptors(spawn_context& context);

/// What one plugin's process does between fork and exec besides what every plugin's does
/// (isolation.hpp), prepared by the caller so that the child only makes system calls.
struct child_plan {
  /// Its cgroup v2 folder (opened O_DIRECTORY; -1: none): it is born there where the kernel can
  /// do it (clone_launcher.hpp), or joins it first, writing "0" to its cgroup.procs.
  int cgroup_folder = -1;
  std::vector<int> cgroup_fds;  ///< v1 cgroup.procs files it joins then (writes "0" to)
  std::vector<std::pair<int, struct rlimit>> limits;
  std::optional<int> nice;
  std::string oom_score_adj;  ///< written to /proc/self/oom_score_adj; empty: left alone
  std::optional<cpu_set_t> cpus;
  std::string working_dir;  ///< empty: plughost's
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
  /// notify_fd: the write end of the run's readiness pipe (-1: none), put at descriptor
  /// `notify_fd` of the plugin, the one descriptor above 2 it keeps.
  int notify_source = -1;
  int notify_fd = 0;
  /// Set by the child when a step failed (the vfork shares the caller's memory): what it was
  /// doing ("change to working_dir /x") and the errno.
  const char* failed_step = nullptr;
  int failed_errno = 0;

  /// Closes the cgroup descriptors (once the process started, or could not).
  void close_cgroups();
};

struct spawned {
  pid_t pid = 0;    ///< also the process group id
  int out_fd = -1;  ///< read ends of its stdout and stderr pipes (close-on-exec, owned by caller)
  int err_fd = -1;
};

/// Starts argv[0] with argv and `environment` (NAME=VALUE). Returns the process or an error
/// text. Never throws. Refuses to start when the descriptor reserve cannot be filled (the
/// open-file limit is reached), so that no process starts that could not be supervised.
/// The process is not waited for here: the caller reaps it. Call it from the thread that
/// should be its "parent" for PR_SET_PDEATHSIG.
/// `plan` (may be null): the plugin's own set-up. With output::discarded, its stdout and
/// stderr are /dev/null (and spawned has no pipes).
enum class output { piped, discarded };
std::variant<spawned, std::string> spawn_plugin(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& environment,
                                                spawn_context& context, child_plan* plan = nullptr,
                                                output to = output::piped);

}  // namespace plughost::detail
