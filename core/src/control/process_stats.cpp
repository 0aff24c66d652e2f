// /proc/<pid>/stat of every process, summed per process group.
#include "control/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace plughost::detail {

namespace {

// The fields after "(comm)": the name may hold spaces and parentheses, so it ends at the last ')'.
bool read_stat(pid_t pid, pid_t& group, double& cpu, std::uint64_t& rss_pages) {
  std::array<char, 64> path{};
  std::snprintf(path.data(), path.size(), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path.data(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::array<char, 1024> buffer{};
  const auto n = ::read(fd, buffer.data(), buffer.size() - 1);
  ::close(fd);
  if (n <= 0) return false;
  const std::string_view text(buffer.data(), static_cast<std::size_t>(n));
  const auto close_paren = text.rfind(')');
  if (close_paren == std::string_view::npos) return false;
  // Field 3 (state) starts two characters after ')'; count fields from there.
  const char* p = buffer.data() + close_paren + 2;
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  unsigned long long fields[22] = {};  // fields 3..24; field 3 (state) is not a number
  int index = 3;
  while (*p && index <= 24) {
    if (index == 3) {
      while (*p && *p != ' ') ++p;
    } else {
      char* end = nullptr;
      fields[index - 3] = std::strtoull(p, &end, 10);
      p = end;
    }
    while (*p == ' ') ++p;
    ++index;
  }
  if (index <= 24) return false;
  group = static_cast<pid_t>(fields[5 - 3]);
  const auto cpu_ticks = fields[14 - 3] + fields[15 - 3] + fields[16 - 3] + fields[17 - 3];
  cpu = static_cast<double>(cpu_ticks) / static_cast<double>(ticks > 0 ? ticks : 100);
  rss_pages = fields[24 - 3];
  return true;
}

}  // namespace

std::map<pid_t, group_usage> usage_of_groups(const std::set<pid_t>& groups) {
  std::map<pid_t, group_usage> out;
  if (groups.empty()) return out;
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (const dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    pid_t group = 0;
    double cpu = 0;
    std::uint64_t rss = 0;
    if (!read_stat(static_cast<pid_t>(pid), group, cpu, rss) || !groups.count(group)) continue;
    auto& u = out[group];
    u.cpu_seconds += cpu;
    u.resident_bytes += rss * page;
    ++u.processes;
  }
  ::closedir(proc);
  return out;
}

}  // namespace plughost::detail
