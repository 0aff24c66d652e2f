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
// A file name ending so is written if the kernel takes it, else left as it was.
constexpr const char* attempt_only = "#attempt";

std::string number_or(const std::optional<std::int64_t>& v, std::string_view none) {
  return v ? std::to_string(*v) : std::string(none);
}

// The files to write, in order, as (controller, file, value); `v2` says which spelling.
using file_value = std::tuple<std::string, std::string, std::string>;

std::vector<file_value> v2_files(const cgroup_tree::cgroup_limits& i) {
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

std::vector<file_value> v1_files(const cgroup_tree::cgroup_limits& i,
                                 const fs::path& cpuset_parent) {
  const auto quota = i.cpu_max
                         ? std::to_string(std::max<std::int64_t>(
                               1000, std::llround(*i.cpu_max * static_cast<double>(cpu_period_us))))
                         : std::string("-1");
  const auto shares = i.cpu_weight ? std::max<std::int64_t>(2, *i.cpu_weight * 1024 / 100) : 1024;
  std::vector<file_value> out;
  // memsw (memory and swap) may never be below the memory limit: raising takes memsw first,
  // lowering the limit first. Which it is depends on what the folder holds: memsw is tried
  // first (refused when lowering), then the limit, then memsw.
  const auto limit = number_or(i.memory_max, "-1");
  out.emplace_back("memory", std::string("memory.memsw.limit_in_bytes") + attempt_only, limit);
  out.emplace_back("memory", "memory.limit_in_bytes", limit);
  out.emplace_back("memory", "memory.memsw.limit_in_bytes", limit);
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

cgroup_tree::cgroup_limits cgroup_tree::limits_of(const plugin_isolation& i) {
  return {i.memory_max, i.memory_high, i.cpu_max, i.cpu_weight, i.pids_max, i.cpus, i.gpu};
}

std::string cgroup_tree::apply_limits(plugin_folders& made, const fs::path& run,
                                      const cgroup_limits& limits) {
  const auto write = [&](const fs::path& folder, std::string file,
                         const std::string& value) -> std::string {
    if (value.empty()) return {};
    if (file.ends_with(attempt_only)) {
      file.resize(file.size() - std::strlen(attempt_only));
      write_cgroup_file(folder / file, value);
      return {};
    }
    const int err = write_cgroup_file(folder / file, value);
    if (err == 0 || (err == ENOENT && optional_file(file))) return {};
    return fmt::format("cannot write {} to {}: {}", value, (folder / file).string(),
                       std::strerror(err));
  };
  // A run's v2 folder is new: only what is set needs writing.
  const auto& v2c = layout_.v2_controllers;
  if (!run.empty() && !(limits == cgroup_limits{})) {
    for (const auto& [c, file, value] : v2_files(limits)) {
      if (std::find(v2c.begin(), v2c.end(), c) == v2c.end()) continue;
      if (auto e = write(run, file, value); !e.empty()) return e;
    }
  }
  if (made.applied == limits) return {};
  const auto cpuset = made.v1.find("cpuset");
  for (const auto& [c, file, value] :
       v1_files(limits, cpuset == made.v1.end() ? fs::path() : cpuset->second.parent_path())) {
    const auto folder = made.v1.find(c);
    if (folder == made.v1.end()) continue;
    if (auto e = write(folder->second, file, value); !e.empty()) return e;
  }
  if (const auto devices = made.v1.find("devices"); devices != made.v1.end()) {
    const bool hide = limits.gpu == gpu_access::none;
    for (const auto& rule : gpu_device_rules()) {
      write_cgroup_file(devices->second / (hide ? "devices.deny" : "devices.allow"), rule);
    }
  }
  made.applied = limits;
  return {};
}

cgroup_usage read_cgroup_usage(const cgroup_folders& f) {
  cgroup_usage u;
  const auto number = [](const fs::path& file) -> std::optional<std::uint64_t> {
    const auto text = read_cgroup_file(file);
    if (!text) return std::nullopt;
    return std::strtoull(text->c_str(), nullptr, 10);
  };
  std::uint64_t cpu = f.ended_cpu_usec, pids = 0, memory = 0, kills = f.ended_oom_kills;
  for (const auto& run : f.runs) {
    const fs::path folder(run);
    pids += cgroup_pids(folder / "cgroup.procs").size();
    if (f.runs_v1) continue;
    cpu += cgroup_keyed_value(folder / "cpu.stat", "usage_usec").value_or(0);
    if (f.memory_v2) {
      memory += number(folder / "memory.current").value_or(0);
      kills += cgroup_keyed_value(folder / "memory.events", "oom_kill").value_or(0);
    }
  }
  u.pids = pids;
  if (!f.runs_v1) u.cpu_usec = cpu;
  if (!f.cpuacct_v1.empty()) {
    if (const auto ns = number(fs::path(f.cpuacct_v1) / "cpuacct.usage")) u.cpu_usec = *ns / 1000;
  }
  if (f.memory_v2) u.memory_bytes = memory;
  u.oom_kills = kills;
  if (!f.memory_v1.empty()) {
    u.memory_bytes = number(fs::path(f.memory_v1) / "memory.usage_in_bytes");
    u.oom_kills =
        cgroup_keyed_value(fs::path(f.memory_v1) / "memory.oom_control", "oom_kill").value_or(0);
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
