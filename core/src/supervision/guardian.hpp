// The guardian: a small process forked when supervision starts, so that plugins do not outlive
// a host that is killed with SIGKILL or crashes. It holds one end of a socket pair; the host
// tells it each plugin's process group as it starts and ends. When the host's end closes
// without a goodbye (the host died), the guardian sends SIGTERM to every group it knows and to
// every process that left one (found by the host's mark in its environment, PLUGHOST_RUN),
// waits up to the stop timeout, sends SIGKILL to what is left, and exits. See docs/running.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <vector>

namespace plughost::detail {

class guardian {
 public:
  guardian() = default;
  ~guardian();  ///< says goodbye (a clean end) and reaps the guardian
  guardian(const guardian&) = delete;
  guardian& operator=(const guardian&) = delete;

  /// Forks the guardian. Returns false (and plughost goes on without one) when it cannot.
  /// Call before any plugin starts, from the supervising thread.
  /// `cgroups`: plughost's cgroup folders (the first holds the runs), `credentials`: where the
  /// runs' credentials folders are; what the host leaves in them is stopped and removed.
  bool start(std::chrono::nanoseconds stop_timeout,
             const std::vector<std::filesystem::path>& cgroups = {},
             const std::filesystem::path& credentials = {});

  void watch(pid_t pgid);  ///< a plugin's process group now exists
  /// The message watch() sends, written into `out` without allocating (async-signal-safe):
  /// for a child that registers its own group between fork and exec. Returns its length.
  static std::size_t watch_message(pid_t pgid, char (&out)[24]) noexcept;
  /// The socket such a child writes watch_message() to; -1 when there is no guardian.
  int socket() const noexcept { return fd_; }
  void forget(pid_t pgid);  ///< that group is empty: never signal it again
  void set_stop_timeout(std::chrono::nanoseconds t);
  /// --exit-with-parent's process: should the host die, and that process be gone (or go) while
  /// the guardian stops the plugins, their stop lasts at most `grace`, not the stop timeout.
  void exit_with(pid_t pid, std::chrono::nanoseconds grace);

  /// Ends the guardian without it touching anything (the host stopped its plugins itself).
  void dismiss();

  pid_t pid() const noexcept { return pid_; }

 private:
  void send(const char* text, std::size_t length);
  int fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace plughost::detail
