// Reading and writing cgroup files: one small value each, errors as errno.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plughost::detail {

/// Writes `text` to `file` in one write(); 0, or the errno.
int write_cgroup_file(const std::filesystem::path& file, std::string_view text);
/// The whole (small) file; nullopt when it cannot be read.
std::optional<std::string> read_cgroup_file(const std::filesystem::path& file);
/// The value of `key` in a "key value" file (memory.events, cpu.stat, memory.oom_control).
std::optional<std::uint64_t> cgroup_keyed_value(const std::filesystem::path& file,
                                                std::string_view key);
/// The pids in a cgroup.procs file.
std::vector<pid_t> cgroup_pids(const std::filesystem::path& file);
/// "0-3,7" for {0, 1, 2, 3, 7}.
std::string cpu_list_text(const std::vector<int>& cpus);

}  // namespace plughost::detail
