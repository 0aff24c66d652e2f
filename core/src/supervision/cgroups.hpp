// A cgroup per plugin (docs/isolation.md): where plughost can make them (cgroup v2 delegated to
// it, the machine's v1 hierarchies, or both as on a hybrid layout), the folder of each plugin
// and of each of its runs, their limits, and what they report (memory, CPU, processes, OOM
// kills).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "supervision/isolation.hpp"

namespace plughost::detail {

/// Where plughost can make a cgroup per plugin, probed once (reading /proc/self/cgroup,
/// /proc/self/mountinfo and the folders' modes; nothing is created).
struct cgroup_layout {
  /// plughost's own cgroup v2 folder, when plughost may create cgroups under it; else empty.
  std::filesystem::path v2;
  /// The controllers of v2 plughost can give its plugins ("memory", "cpu", "pids", "cpuset").
  std::vector<std::string> v2_controllers;
  /// plughost must first move itself into a leaf of its cgroup to enable them (cgroup v2's
  /// rule: a cgroup with controllers for its children holds no process itself).
  bool v2_move_self = false;
  bool v2_kill = false;  ///< cgroup.kill (Linux 5.14)
  /// cgroup v1: controller ("memory", "cpu", "cpuacct", "pids", "cpuset", "devices") → plughost's
  /// own cgroup in that hierarchy, when plughost may create cgroups there.
  std::map<std::string, std::filesystem::path, std::less<>> v1;
  /// Empty when every plugin gets a cgroup of its own; else one sentence: what is missing and
  /// what the operator can do (Delegate=yes, a writable cgroup namespace).
  std::string missing;

  /// Whether a plugin's processes can be held in a cgroup (v2, or v1's pids hierarchy).
  bool usable() const { return !v2.empty() || v1.contains("pids"); }
  /// Whether a limit of `controller` ("memory", "cpu", "pids", "cpuset", "devices") applies:
  /// through v2 or v1.
  bool can(std::string_view controller) const;
  /// "v2", "v1", "v2 + v1" or "none", for messages and `list`.
  std::string describe() const;
};

/// Probes this process's cgroups. `setting` is plughost.cgroups: "auto" (use what can be used)
/// or "off" (a layout that is not usable, `missing` saying so).
cgroup_layout probe_cgroups(std::string_view setting = "auto");

/// The kernel makes the first move of a process into a cgroup after a quiet while wait for an
/// RCU grace period (milliseconds, on the first plugin's start): this makes a move that changes
/// nothing (this process into its own cgroup v2) on a thread of its own, so that the wait is
/// taken while the caller does other things. An empty thread where there is nothing to prime,
/// and where plugins are born in their cgroups (clone_launcher.hpp), which moves nothing.
std::jthread prime_cgroup_moves();

/// What a plugin's cgroup has used, read from its files (not by walking /proc).
struct cgroup_usage {
  std::optional<std::uint64_t> memory_bytes;  ///< memory.current / memory.usage_in_bytes
  std::optional<std::uint64_t> cpu_usec;      ///< cpu.stat usage_usec / cpuacct.usage
  std::optional<std::uint64_t> pids;          ///< processes in it
  std::uint64_t oom_kills = 0;                ///< memory.events / memory.oom_control oom_kill
};

}  // namespace plughost::detail
