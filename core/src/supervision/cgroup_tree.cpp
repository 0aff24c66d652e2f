// plughost's cgroups: its folders, a plugin's (with its limits), a run's, and stopping a run
// through its folder.
#include "supervision/cgroup_tree.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "supervision/cgroup_files.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

namespace {

// The v1 controllers a plugin needs, where v2 does not give them.
std::vector<std::string> v1_needed(const cgroup_layout& layout, bool has_v2,
                                   const plugin_isolation& i) {
  const auto v2_has = [&](std::string_view c) {
    return has_v2 && std::find(layout.v2_controllers.begin(), layout.v2_controllers.end(), c) !=
                         layout.v2_controllers.end();
  };
  std::vector<std::string> out;
  const auto want = [&](const char* c, bool wanted) {
    if (wanted && !v2_has(c) && layout.v1.contains(c)) out.emplace_back(c);
  };
  want("memory", i.memory_max || i.memory_high);
  want("cpu", i.cpu_max || i.cpu_weight);
  want("pids", i.pids_max || !has_v2);  // without v2, pids holds the runs
  want("cpuset", !i.cpus.empty());
  want("cpuacct", !has_v2);  // CPU time, which v2's cpu.stat gives otherwise
  if (i.gpu == gpu_access::none && layout.v1.contains("devices")) out.emplace_back("devices");
  return out;
}

// A folder name from a plugin's name: letters, digits, '-' and '_' ('.' would look like a
// controller's file), unique among the plugins.
std::string folder_name(std::string_view plugin) {
  std::string out;
  for (const char c : plugin) {
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  }
  if (out.size() > 200) out.resize(200);
  return out.empty() ? "_" : out;
}

std::string failed(const fs::path& file, int err) {
  return fmt::format("{}: {}", file.string(), std::strerror(err));
}

int make_folder(const fs::path& folder) {
  return ::mkdir(folder.c_str(), 0755) == 0 || errno == EEXIST ? 0 : errno;
}

// A folder plughost makes now, not one left by an earlier process of the same pid (whose
// processes would become a plugin's): "<name>", else "<name>.1", ... Its errno when none can be.
int make_new_folder(const fs::path& parent, const std::string& name, fs::path& made) {
  for (int n = 0; n < 100; ++n) {
    made = parent / (n == 0 ? name : fmt::format("{}.{}", name, n));
    if (::mkdir(made.c_str(), 0755) == 0) return 0;
    if (errno != EEXIST) return errno;
  }
  return EEXIST;
}

// A v1 cpuset folder takes processes only once it has CPUs and memory nodes: its parent's.
int inherit_cpuset(const fs::path& folder) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    auto value = read_cgroup_file(folder.parent_path() / file);
    if (!value) return ENOENT;
    if (value->empty() || *value == "\n") continue;
    if (const int err = write_cgroup_file(folder / file, *value)) return err;
  }
  return 0;
}

}  // namespace

std::unique_ptr<cgroup_tree> cgroup_tree::create(const cgroup_layout& layout, pid_t host,
                                                 std::string& problem) {
  std::unique_ptr<cgroup_tree> tree(new cgroup_tree(layout));
  const auto name = fmt::format("plughost.{}", host);
  auto& l = tree->layout_;
  if (!l.v2.empty()) {
    std::string controllers;
    for (const auto& c : l.v2_controllers) controllers += (controllers.empty() ? "+" : " +") + c;
    if (l.v2_move_self) {  // cgroup v2: a cgroup that gives controllers holds no process
      fs::path leaf;
      if (make_new_folder(l.v2, name + ".host", leaf) != 0 ||
          write_cgroup_file(leaf / "cgroup.procs", std::to_string(host)) != 0 ||
          write_cgroup_file(l.v2 / "cgroup.subtree_control", controllers) != 0) {
        l.v2_controllers.clear();
        controllers.clear();
      }
    }
    fs::path base;
    if (const int err = make_new_folder(l.v2, name, base)) {
      problem = failed(l.v2 / name, err);
      l.v2.clear();
    } else {
      tree->v2_ = base;
      if (!controllers.empty() &&
          write_cgroup_file(base / "cgroup.subtree_control", controllers) != 0) {
        l.v2_controllers.clear();
      }
      l.v2_kill = fs::exists(base / "cgroup.kill");
    }
  }
  for (const auto& [controller, folder] : l.v1) {
    fs::path base;
    if (make_new_folder(folder, name, base) != 0 ||
        (controller == "cpuset" && inherit_cpuset(base) != 0)) {
      continue;
    }
    tree->v1_.emplace(controller, base);
  }
  std::erase_if(l.v1, [&](const auto& c) { return !tree->v1_.contains(c.first); });
  if (tree->v2_.empty() && !tree->v1_.contains("pids")) {
    if (problem.empty()) problem = "no cgroup folder of plughost's could be made";
    return nullptr;
  }
  return tree;
}

void cgroup_tree::remove_folders() noexcept {
  for (const auto& [id, run] : runs_) ::rmdir(run.path.c_str());
  for (const auto& [name, made] : plugins_) {
    for (const auto& [c, folder] : made->v1) ::rmdir(folder.c_str());
  }
  if (!v2_.empty()) ::rmdir(v2_.c_str());
  for (const auto& [c, folder] : v1_) ::rmdir(folder.c_str());
}

std::string cgroup_tree::make_plugin(std::string_view plugin, const plugin_isolation& isolation,
                                     plugin_folders& made) {
  if (made.name.empty()) {
    auto name = folder_name(plugin);
    if (const int n = taken_[name]++; n > 0) name += fmt::format("~{}", n);
    made.name = name;
  }
  for (const auto& c : v1_needed(layout_, !v2_.empty(), isolation)) {
    if (made.v1.contains(c)) continue;
    const auto folder = v1_.at(c) / made.name;
    int err = make_folder(folder);
    if (!err && c == "cpuset") err = inherit_cpuset(folder);
    if (err) return failed(folder, err);
    made.v1.emplace(c, folder);
  }
  return {};
}

// v2: "<plugin>.<n>" beside the other runs; v1 pids without v2: below the plugin's folder.
fs::path cgroup_tree::run_folder_path(const plugin_folders& made, run_id id) const {
  if (!v2_.empty()) return v2_ / fmt::format("{}.{}", made.name, id);
  return made.v1.at("pids") / fmt::format("run-{}", id);
}

std::variant<cgroup_join, std::string> cgroup_tree::prepare_run(run_id id, std::string_view plugin,
                                                                const plugin_isolation& isolation) {
  auto& made = plugins_[std::string(plugin)];
  if (!made) made = std::make_unique<plugin_folders>();
  if (auto error = make_plugin(plugin, isolation, *made); !error.empty()) return error;
  const auto leaf = run_folder_path(*made, id);
  if (const int err = make_folder(leaf)) return failed(leaf, err);
  const auto undo = [&](std::string error) {
    ::rmdir(leaf.c_str());
    return error;
  };
  if (auto error = apply_limits(*made, v2_.empty() ? fs::path() : leaf, limits_of(isolation));
      !error.empty()) {
    return undo(error);
  }
  std::vector<fs::path> joins;
  if (v2_.empty()) joins.push_back(leaf / "cgroup.procs");
  for (const auto& [c, folder] : made->v1) {
    if (v2_.empty() && c == "pids") continue;  // the run's folder is below it
    joins.push_back(folder / "cgroup.procs");
  }
  cgroup_join join;
  const auto close_join = [&join] {
    if (join.folder >= 0) ::close(join.folder);
    for (const int f : join.procs) ::close(f);
  };
  if (!v2_.empty()) {
    join.folder = ::open(leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (join.folder < 0) return undo(failed(leaf, errno));
  }
  for (const auto& file : joins) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      close_join();
      return undo(failed(file, err));
    }
    join.procs.push_back(fd);
  }
  runs_[id] = {leaf, 0, made.get()};
  made->live.push_back(id);
  return join;
}

void cgroup_tree::started(run_id id, pid_t group) {
  if (const auto it = runs_.find(id); it != runs_.end()) {
    it->second.group = group;
    by_group_[group] = id;
  }
}

void cgroup_tree::abandon(run_id id) {
  if (const auto it = runs_.find(id); it != runs_.end()) {
    ::rmdir(it->second.path.c_str());
    std::erase(it->second.plugin->live, id);
    by_group_.erase(it->second.group);
    runs_.erase(it);
  }
}

bool cgroup_tree::signal(pid_t group, int sig) {
  const auto it = by_group_.find(group);
  if (it == by_group_.end()) return false;
  const auto& folder = runs_.at(it->second).path;
  if (sig == SIGKILL && layout_.v2_kill && !v2_.empty() &&
      write_cgroup_file(folder / "cgroup.kill", "1") == 0) {
    return true;
  }
  // Each process by a pidfd, kept only if it is still in the folder once the pidfd is held: a
  // pid that ended and was reused meanwhile is not signalled. Those in the run's process group
  // had the signal from the caller (kill of the group): a second one would reach a plugin that
  // is already handling the first (Python's default handler is back while it exits).
  std::vector<std::pair<pid_t, int>> held;
  for (const pid_t pid : cgroup_pids(folder / "cgroup.procs")) {
    if (sig != SIGKILL && ::getpgid(pid) == group) continue;
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) held.emplace_back(pid, fd);
  }
  const auto still = cgroup_pids(folder / "cgroup.procs");
  for (const auto& [pid, fd] : held) {
    if (std::find(still.begin(), still.end(), pid) != still.end()) {
      ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0);
    }
    ::close(fd);
  }
  return true;
}

bool cgroup_tree::contains(pid_t group, pid_t pid) const {
  const auto it = by_group_.find(group);
  if (it == by_group_.end()) return false;
  const auto pids = cgroup_pids(runs_.at(it->second).path / "cgroup.procs");
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

std::optional<bool> cgroup_tree::alive(pid_t group) const {
  const auto it = by_group_.find(group);
  if (it == by_group_.end()) return std::nullopt;
  const auto& folder = runs_.at(it->second).path;
  if (const auto populated = cgroup_keyed_value(folder / "cgroup.events", "populated")) {
    return *populated != 0;
  }
  return !cgroup_pids(folder / "cgroup.procs").empty();
}

void cgroup_tree::ended(pid_t group) {
  const auto it = by_group_.find(group);
  if (it == by_group_.end()) return;
  const auto& run = runs_.at(it->second);
  if (!v2_.empty()) {  // what the run's folder counted goes to its plugin's
    run.plugin->ended_cpu_usec +=
        cgroup_keyed_value(run.path / "cpu.stat", "usage_usec").value_or(0);
    run.plugin->ended_oom_kills +=
        cgroup_keyed_value(run.path / "memory.events", "oom_kill").value_or(0);
  }
  abandon(it->second);
}

bool cgroup_tree::oom_killed(run_id id) {
  const auto it = runs_.find(id);
  if (it == runs_.end()) return false;
  auto& run = it->second;
  if (const auto memory = run.plugin->v1.find("memory"); memory != run.plugin->v1.end()) {
    const auto kills = cgroup_keyed_value(memory->second / "memory.oom_control", "oom_kill");
    const bool more = kills.value_or(0) > run.plugin->oom_seen;
    run.plugin->oom_seen = kills.value_or(0);
    return more;
  }
  const auto kills = cgroup_keyed_value(run.path / "memory.events", "oom_kill").value_or(0);
  const bool more = kills > run.oom_seen;
  run.oom_seen = kills;
  return more;
}

cgroup_folders cgroup_tree::folders(std::string_view plugin) const {
  cgroup_folders out;
  const auto it = plugins_.find(plugin);
  if (it == plugins_.end()) return out;
  const auto& made = *it->second;
  // Its own runs only: a status of a thousand plugins must not look at every run for each.
  for (const auto id : made.live) out.runs.push_back(runs_.at(id).path.string());
  out.runs_v1 = v2_.empty();
  out.memory_v2 =
      !v2_.empty() && std::find(layout_.v2_controllers.begin(), layout_.v2_controllers.end(),
                                "memory") != layout_.v2_controllers.end();
  const auto v1 = [&](std::string_view c) {
    const auto f = made.v1.find(c);
    return f == made.v1.end() ? std::string() : f->second.string();
  };
  out.memory_v1 = v1("memory");
  out.cpuacct_v1 = v1("cpuacct");
  out.ended_cpu_usec = made.ended_cpu_usec;
  out.ended_oom_kills = made.ended_oom_kills;
  return out;
}

std::vector<fs::path> cgroup_tree::roots() const {
  std::vector<fs::path> out;
  if (!v2_.empty()) out.push_back(v2_);
  if (const auto it = v1_.find("pids"); it != v1_.end()) out.push_back(it->second);
  for (const auto& [c, folder] : v1_) {
    if (c != "pids") out.push_back(folder);
  }
  return out;
}

}  // namespace plughost::detail
