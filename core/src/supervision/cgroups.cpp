// Where plughost can make a cgroup per plugin: its own cgroups, read from /proc/self/cgroup and
// /proc/self/mountinfo, and whether it may create cgroups under them.
#include "supervision/cgroups.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "supervision/clone_launcher.hpp"

namespace plughost::detail {

namespace {

// One line of /proc/self/mountinfo: where a hierarchy is mounted, which part of it, its type and
// (for v1) its controllers.
struct mount_line {
  std::string root;
  std::filesystem::path point;
  std::string type;
  std::vector<std::string> options;
};

std::vector<std::string> split(std::string_view text, char by) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(by, start), text.size());
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// mountinfo escapes blanks and backslashes as \040 and \134.
std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 3)), nullptr, 8));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<mount_line> cgroup_mounts() {
  std::vector<mount_line> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const auto before = split(std::string_view(line).substr(0, dash), ' ');
    const auto after = split(std::string_view(line).substr(dash + 3), ' ');
    if (before.size() < 5 || after.size() < 3) continue;
    if (after[0] != "cgroup" && after[0] != "cgroup2") continue;
    out.push_back({unescape(before[3]), unescape(before[4]), after[0], split(after[2], ',')});
  }
  return out;
}

// The folder of cgroup `path` (as /proc/self/cgroup says it) under a mount of its hierarchy.
std::optional<std::filesystem::path> folder_of(const mount_line& m, const std::string& path) {
  if (m.root != "/" && path.rfind(m.root, 0) != 0) return std::nullopt;  // not in this mount
  const auto inside = m.root == "/" ? path : path.substr(m.root.size());
  auto folder = m.point / std::filesystem::path(inside).relative_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return std::nullopt;
  return folder;
}

bool may_create_in(const std::filesystem::path& folder) {
  return ::access(folder.c_str(), W_OK | X_OK) == 0;
}

std::string read_first_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int a = 0, b = 0;
  if (std::sscanf(u.release, "%d.%d", &a, &b) != 2) return false;
  return a > major || (a == major && b >= minor);
}

// The v2 part: plughost's own cgroup, whether it may create children there and which
// controllers they can have.
void probe_v2(const std::vector<mount_line>& mounts, const std::string& path, cgroup_layout& out) {
  for (const auto& m : mounts) {
    if (m.type != "cgroup2") continue;
    const auto folder = folder_of(m, path);
    if (!folder || !may_create_in(*folder)) continue;
    out.v2 = *folder;
    out.v2_kill =
        std::filesystem::exists(*folder / "cgroup.kill") || (path == "/" && kernel_at_least(5, 14));
    const auto offered = split(read_first_line(*folder / "cgroup.controllers"), ' ');
    const auto enabled = split(read_first_line(*folder / "cgroup.subtree_control"), ' ');
    for (const char* c : {"memory", "cpu", "pids", "cpuset"}) {
      if (std::find(offered.begin(), offered.end(), c) != offered.end()) {
        out.v2_controllers.emplace_back(c);
      }
    }
    // Enabling a controller for children needs a cgroup without processes (the root excepted):
    // plughost moves itself into a leaf when it is alone in its cgroup, else it goes without.
    const bool all_enabled =
        std::all_of(out.v2_controllers.begin(), out.v2_controllers.end(), [&](const auto& c) {
          return std::find(enabled.begin(), enabled.end(), c) != enabled.end();
        });
    if (path != "/" && !out.v2_controllers.empty() && !all_enabled) {
      std::ifstream in(*folder / "cgroup.procs");
      int alone = 0;
      for (std::string pid; std::getline(in, pid);)
        alone += pid == std::to_string(::getpid()) ? 1 : 2;
      if (alone == 1) {
        out.v2_move_self = true;
      } else {
        out.v2_controllers.clear();
      }
    }
    return;
  }
}

}  // namespace

bool cgroup_layout::can(std::string_view controller) const {
  return std::find(v2_controllers.begin(), v2_controllers.end(), controller) !=
             v2_controllers.end() ||
         v1.contains(controller);
}

std::string cgroup_layout::describe() const {
  if (!usable()) return "none";
  std::vector<std::string> parts;
  if (!v2.empty()) {
    parts.push_back(v2_controllers.empty()
                        ? std::string("v2")
                        : fmt::format("v2 ({})", fmt::join(v2_controllers, ", ")));
  }
  if (!v1.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, folder] : v1) names.push_back(name);
    parts.push_back(fmt::format("v1 ({})", fmt::join(names, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, " + "));
}

std::jthread prime_cgroup_moves() {
  auto layout = probe_cgroups();
  if (layout.v2.empty() || layout.v2_move_self || can_clone_into_cgroup()) return {};
  return std::jthread([procs = layout.v2 / "cgroup.procs"] {
    const auto pid = std::to_string(::getpid());
    if (std::FILE* f = std::fopen(procs.c_str(), "w")) {
      std::fwrite(pid.data(), 1, pid.size(), f);
      std::fclose(f);
    }
  });
}

cgroup_layout probe_cgroups(std::string_view setting) {
  cgroup_layout out;
  if (setting == "off") {
    out.missing = "plughost.cgroups is off";
    return out;
  }
  const auto mounts = cgroup_mounts();
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const auto controllers =
        split(std::string_view(line).substr(first + 1, second - first - 1), ',');
    const auto path = line.substr(second + 1);
    if (line.compare(0, first, "0") == 0 && controllers.empty()) {
      probe_v2(mounts, path, out);
      continue;
    }
    for (const auto& m : mounts) {
      if (m.type != "cgroup") continue;
      for (const auto& c : controllers) {
        if (std::find(m.options.begin(), m.options.end(), c) == m.options.end()) continue;
        if (c != "memory" && c != "cpu" && c != "cpuacct" && c != "pids" && c != "cpuset" &&
            c != "devices") {
          continue;
        }
        if (const auto folder = folder_of(m, path); folder && may_create_in(*folder)) {
          out.v1.emplace(c, *folder);
        }
      }
    }
  }
  if (!out.usable()) {
    out.missing =
        "plughost cannot create cgroups (no writable cgroup v2 folder of its own, no writable "
        "v1 pids hierarchy): give it its cgroup (Delegate=yes in its systemd unit; in a "
        "container, a writable cgroup namespace)";
  }
  return out;
}

}  // namespace plughost::detail
