// A plugin's limits written to its cgroup folders (v2's files, else v1's), what its folders
// report, and a run's processes held through its folder.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "supervision/cgroup_files.hpp"
#include "supervision/cgroup_tree.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t cpu_period_us = 100'000;

// What the cgroup files hold for a plugin: the settings that have a controller.
bool same_limits(const plugin_isolation& a, const plugin_isolation& b) {
  return a.memory_max == b.memory_max && a.memory_high == b.memory_high && a.cpu_max == b.cpu_max &&
         a.cpu_weight == b.cpu_weight && a.pids_max == b.pids_max && a.cpus == b.cpus &&
         a.gpu == b.gpu;
}

std::string number_or(const std::optional<std::int64_t>& v, std::string_view none) {
  return v ? std::to_string(*v) : std::string(none);
}

// The files to write, in order, as (controller, file, value); `v2` says which spelling.
using file_value = std::tuple<std::string, std::string, std::string>;

std::vector<file_value> v2_files(const plugin_isolation& i) {
  const auto quota = i.cpu_max
                         ? std::to_string(std::max<std::int64_t>(
                               1000, std::llround(*i.cpu_max * static_cast<double>(cpu_period_us))))
                         : std::string("max");
  return {{"memory", "memory.high", number_or(i.memory_high, "max")},
          {"memory", "memory.max", number_or(i.memory_max, "max")},
          // The limit is the plugin's memory: what exceeds it is not pushed to swap instead.
          {"memory", "memory.swap.max", i.memory_max ? "0" : "max"},
          {"cpu", "cpu.max", fmt::format("{} {}", quota, cpu_period_us)},
          {"cpu", "cpu.weight", number_or(i.cpu_weight, "100")},
          {"pids", "pids.max", number_or(i.pids_max, "max")},
          {"cpuset", "cpuset.cpus", cpu_list_text(i.cpus)}};
}

std::vector<file_value> v1_files(const plugin_isolation& i, const fs::path& cpuset_parent) {
  const auto quota = i.cpu_max
                         ? std::to_string(std::max<std::int64_t>(
                               1000, std::llround(*i.cpu_max * static_cast<double>(cpu_period_us))))
                         : std::string("-1");
  const auto shares = i.cpu_weight ? std::max<std::int64_t>(2, *i.cpu_weight * 1024 / 100) : 1024;
  std::vector<file_value> out;
  // memsw (memory and swap) is at least the memory limit: the order depends on the way.
  const auto limit = number_or(i.memory_max, "-1");
  if (i.memory_max) {
    out.emplace_back("memory", "memory.limit_in_bytes", limit);
    out.emplace_back("memory", "memory.memsw.limit_in_bytes", limit);
  } else {
    out.emplace_back("memory", "memory.memsw.limit_in_bytes", limit);
    out.emplace_back("memory", "memory.limit_in_bytes", limit);
  }
  out.emplace_back("memory", "memory.soft_limit_in_bytes", number_or(i.memory_high, "-1"));
  out.emplace_back("cpu", "cpu.cfs_period_us", std::to_string(cpu_period_us));
  out.emplace_back("cpu", "cpu.cfs_quota_us", quota);
  out.emplace_back("cpu", "cpu.shares", std::to_string(shares));
  out.emplace_back("pids", "pids.max", number_or(i.pids_max, "max"));
  out.emplace_back("cpuset", "cpuset.cpus",
                   i.cpus.empty() ? read_cgroup_file(cpuset_parent / "cpuset.cpus").value_or("")
                                  : cpu_list_text(i.cpus));
  return out;
}

// The majors of GPU devices: NVIDIA's (195 and the dynamic ones), AMD's kfd, DRM's (226).
std::vector<std::string> gpu_device_rules() {
  std::vector<std::string> out = {"c 195:* rwm", "c 226:* rwm"};
  const auto devices = read_cgroup_file("/proc/devices").value_or("");
  std::string_view rest(devices);
  while (!rest.empty()) {
    const auto end = std::min(rest.find('\n'), rest.size());
    const auto line = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    const auto blank = line.find(' ', line.find_first_not_of(' '));
    if (blank == std::string_view::npos) continue;
    const auto name = line.substr(blank + 1);
    if (name.starts_with("nvidia") || name == "kfd") {
      const auto major = line.substr(0, blank);
      out.push_back(fmt::format("c {}:* rwm", major.substr(major.find_first_not_of(' '))));
    }
  }
  return out;
}

// Files a kernel may not have (swap accounting off): not an error.
bool optional_file(std::string_view file) {
  return file == "memory.swap.max" || file == "memory.memsw.limit_in_bytes";
}

}  // namespace

std::string cgroup_tree::apply_limits(plugin_folders& made, const plugin_isolation& isolation) {
  auto& applied = made.applied;
  if (applied ? same_limits(*applied, isolation) : same_limits(plugin_isolation{}, isolation)) {
    applied = isolation;
    return {};
  }
  const auto write = [&](const fs::path& folder, const std::string& file,
                         const std::string& value) -> std::string {
    if (value.empty()) return {};
    const int err = write_cgroup_file(folder / file, value);
    if (err == 0 || (err == ENOENT && optional_file(file))) return {};
    return fmt::format("cannot write {} to {}: {}", value, (folder / file).string(),
                       std::strerror(err));
  };
  const auto& v2c = layout_.v2_controllers;
  for (const auto& [c, file, value] : v2_files(isolation)) {
    if (made.v2.empty() || std::find(v2c.begin(), v2c.end(), c) == v2c.end()) continue;
    if (auto e = write(made.v2, file, value); !e.empty()) return e;
  }
  const auto cpuset = made.v1.find("cpuset");
  for (const auto& [c, file, value] :
       v1_files(isolation, cpuset == made.v1.end() ? fs::path() : cpuset->second.parent_path())) {
    const auto folder = made.v1.find(c);
    if (folder == made.v1.end()) continue;
    if (auto e = write(folder->second, file, value); !e.empty()) return e;
  }
  if (const auto devices = made.v1.find("devices"); devices != made.v1.end()) {
    const bool hide = isolation.gpu == gpu_access::none;
    for (const auto& rule : gpu_device_rules()) {
      write_cgroup_file(devices->second / (hide ? "devices.deny" : "devices.allow"), rule);
    }
  }
  applied = isolation;
  return {};
}

cgroup_usage read_cgroup_usage(const cgroup_folders& f) {
  cgroup_usage u;
  if (!f.main.empty()) {
    if (!f.main_v1) {
      u.cpu_usec = cgroup_keyed_value(fs::path(f.main) / "cpu.stat", "usage_usec");
    }
    // Its runs' folders: the processes are there.
    std::uint64_t pids = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(f.main, ec)) {
      if (entry.is_directory(ec)) pids += cgroup_pids(entry.path() / "cgroup.procs").size();
    }
    if (!ec) u.pids = pids;
  }
  if (!f.cpuacct.empty()) {
    if (const auto ns = read_cgroup_file(fs::path(f.cpuacct) / "cpuacct.usage")) {
      u.cpu_usec = std::strtoull(ns->c_str(), nullptr, 10) / 1000;
    }
  }
  if (!f.memory.empty()) {
    const fs::path m(f.memory);
    if (f.memory_v1) {
      if (const auto b = read_cgroup_file(m / "memory.usage_in_bytes")) {
        u.memory_bytes = std::strtoull(b->c_str(), nullptr, 10);
      }
      u.oom_kills = cgroup_keyed_value(m / "memory.oom_control", "oom_kill").value_or(0);
    } else {
      if (const auto b = read_cgroup_file(m / "memory.current")) {
        u.memory_bytes = std::strtoull(b->c_str(), nullptr, 10);
      }
      u.oom_kills = cgroup_keyed_value(m / "memory.events", "oom_kill").value_or(0);
    }
  }
  return u;
}

namespace {

// Runs held in a cgroup are signalled through it (and their group, as before); the others, and
// the mark every run's processes carry, are the fallback's.
class cgroup_run_processes final : public run_processes {
 public:
  cgroup_run_processes(cgroup_tree& tree, std::unique_ptr<run_processes> fallback)
      : tree_(tree), fallback_(std::move(fallback)) {}

  std::string mark(run_id id) const override { return fallback_->mark(id); }
  void started(run_id id, pid_t group) override {
    tree_.started(id, group);
    if (!tree_.holds(group)) fallback_->started(id, group);
  }
  void signal(pid_t group, int sig) override {
    if (!tree_.holds(group)) return fallback_->signal(group, sig);
    ::kill(-group, sig);
    tree_.signal(group, sig);
  }
  bool alive(pid_t group) override {
    if (const auto a = tree_.alive(group)) return *a;
    return fallback_->alive(group);
  }
  void ended(pid_t group) override {
    if (tree_.holds(group)) return tree_.ended(group);
    fallback_->ended(group);
  }

 private:
  cgroup_tree& tree_;
  std::unique_ptr<run_processes> fallback_;
};

}  // namespace

std::unique_ptr<run_processes> make_cgroup_run_processes(cgroup_tree& tree,
                                                         std::unique_ptr<run_processes> fallback) {
  return std::make_unique<cgroup_run_processes>(tree, std::move(fallback));
}

}  // namespace plughost::detail
