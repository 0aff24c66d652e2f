// What runs in the forked guardian (guardian.hpp): it reads the host's lines until the host is
// gone, then stops every plugin group it was told of and every process that left one.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "supervision/guardian_folders.hpp"

namespace plughost::detail {

// Room for this many live process groups (the host forgets groups as they end).
inline constexpr std::size_t max_groups = 1 << 16;
// Room for this many processes that left their plugin's group, found once the host is gone.
inline constexpr std::size_t max_escaped = 1 << 16;

/// What the guardian knows. Its arrays are allocated by the host before the fork: the child
/// must not call malloc (another thread of the host may have held its lock).
struct guard_state {
  pid_t* groups;  // max_groups of them
  std::size_t count = 0;
  // Processes that left a plugin's group, found by the mark in their environment
  // ("PLUGHOST_RUN=<host pid>:"): max_escaped of each.
  pid_t* escaped = nullptr;
  unsigned long long* escaped_started = nullptr;
  bool* escaped_signalled = nullptr;
  std::size_t escaped_count = 0;
  char mark[48] = {};
  std::size_t mark_length = 0;
  long long stop_timeout_ms = 5000;
  pid_t exit_with = 0;  // --exit-with-parent's process: once it is gone, the stop is short
  long long exit_with_grace_ms = 1000;
  /// plughost's cgroup and credentials folders (null: none): stopped and removed.
  const guarded_folders* folders = nullptr;

  bool exit_with_gone() const;
  void add(pid_t g);
  void remove(pid_t g);
  bool tracked(pid_t g) const;
  /// Whether a tracked group has a member that is not a zombie.
  bool any_alive() const;
  void signal_all(int sig) const;
  /// Adds every live process outside the tracked groups that carries the host's mark.
  void find_escaped();
  bool known_escaped(pid_t pid) const;
  /// Whether escaped process `i` is still the one found (same start time) and not a zombie.
  bool escaped_alive(std::size_t i) const;
  bool any_escaped_alive() const;
  /// `sig` to every escaped process still there; with `once`, only to those not signalled yet.
  /// Returns how many were signalled.
  std::size_t signal_escaped(int sig, bool once);
};

/// The guardian's life, in the forked child: `fd` is its end of the socket pair. Allocates
/// nothing and calls only async-signal-safe functions; ends with _exit.
[[noreturn]] void guardian_main(int fd, guard_state& s);

}  // namespace plughost::detail
