// What the guardian does with the folders a killed host leaves (guardian_process.hpp): the
// processes of its cgroups stopped, its cgroup and credentials folders removed. With raw system
// calls and stack buffers only: it runs in a forked child of a threaded host.
#pragma once

#include <cstddef>

namespace plughost::detail {

inline constexpr std::size_t max_guarded_folders = 8;
inline constexpr std::size_t guarded_path_size = 512;

struct guarded_folders {
  /// plughost's cgroup folders, as <root>/<plugin>/<run>: the first holds the runs' processes.
  char cgroups[max_guarded_folders][guarded_path_size] = {};
  std::size_t cgroup_count = 0;
  /// Where the runs' credentials folders are, and the prefix of this host's ("<pid>.").
  char credentials[guarded_path_size] = {};
  char credentials_prefix[24] = {};

  /// `sig` to every process of every run in the first cgroup folder; SIGKILL by cgroup.kill
  /// where there is one. Returns how many processes were found.
  std::size_t signal_all(int sig) const;
  /// Whether a process is left in them.
  bool populated() const;
  /// Removes the (empty) cgroup folders, and this host's credentials folders with their files.
  void remove() const;
};

}  // namespace plughost::detail
