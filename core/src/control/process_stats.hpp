// CPU time and resident memory of process groups, from /proc: what /metrics says of each plugin.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>

namespace plughost::detail {

struct group_usage {
  double cpu_seconds =
      0;  ///< user + system time of its live processes and the children they reaped
  std::uint64_t resident_bytes = 0;
  std::uint64_t processes = 0;
};

/// The usage of each of `groups` (process group ids), reading every /proc/<pid>/stat once.
std::map<pid_t, group_usage> usage_of_groups(const std::set<pid_t>& groups);

}  // namespace plughost::detail
