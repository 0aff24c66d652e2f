// plughost's cgroups (docs/isolation.md): a folder of its own in each hierarchy it uses
// ("plughost.<pid>"), one per plugin below it (its limits), and, where processes are held (v2, or
// v1's pids hierarchy without v2), one per run below that, which stopping a run empties whatever
// its processes did (setsid(), double forks).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "supervision/cgroups.hpp"
#include "supervision/run_processes.hpp"
#include "supervision/supervision_port.hpp"

namespace plughost::detail {

/// The folders a plugin's figures are read from ("" where there is none).
struct cgroup_folders {
  std::string main;    ///< where its runs are held (v2, or v1 pids): processes, CPU on v2
  std::string memory;  ///< memory.current/events (v2) or memory.usage_in_bytes/oom_control (v1)
  bool memory_v1 = false;
  std::string cpuacct;  ///< v1 cpuacct.usage, when main is not v2
  bool main_v1 = false;
};

/// What a plugin's cgroup uses now; nothing for folders that do not exist.
cgroup_usage read_cgroup_usage(const cgroup_folders& folders);

class cgroup_tree {
 public:
  /// Makes plughost's folders (moving plughost into a leaf of its own v2 cgroup first when
  /// controllers need it). Returns null, with `problem` saying why, when it cannot.
  static std::unique_ptr<cgroup_tree> create(const cgroup_layout& layout, pid_t host,
                                             std::string& problem);
  ~cgroup_tree();  ///< removes the folders that are empty
  cgroup_tree(const cgroup_tree&) = delete;
  cgroup_tree& operator=(const cgroup_tree&) = delete;

  /// Makes run `id` of `plugin`'s folders (the plugin's with its limits, the run's), and opens
  /// the cgroup.procs files its first process writes "0" to before exec. The caller closes the
  /// descriptors once the process started. An error text when a folder or limit cannot be made.
  std::variant<std::vector<int>, std::string> prepare_run(run_id id, std::string_view plugin,
                                                          const plugin_isolation& isolation);
  /// The run's first process exists (its group): stop and look at it by its group.
  void started(run_id id, pid_t group);
  /// The run's exec failed: its folder goes.
  void abandon(run_id id);

  /// `signal` to every process of the run in its cgroup (SIGKILL through cgroup.kill where the
  /// kernel has it). False when the run has no cgroup.
  bool signal(pid_t group, int signal);
  /// Whether run of `group` is held in a cgroup.
  bool holds(pid_t group) const { return by_group_.contains(group); }
  /// Whether a process of the run is left; nullopt when the run has no cgroup.
  std::optional<bool> alive(pid_t group) const;
  /// The run is over: its folder goes.
  void ended(pid_t group);

  /// The plugin's folders; empty ones before its first run.
  cgroup_folders folders(std::string_view plugin) const;
  /// plughost's folders in every hierarchy (for the guardian: what is in them when the host
  /// dies is stopped; the first is where processes are held).
  std::vector<std::filesystem::path> roots() const;
  const cgroup_layout& layout() const { return layout_; }

 private:
  explicit cgroup_tree(cgroup_layout layout) : layout_(std::move(layout)) {}
  struct plugin_folders {
    std::string name;          // the folder's name in each hierarchy
    std::filesystem::path v2;  // empty without v2
    std::map<std::string, std::filesystem::path, std::less<>> v1;  // controller → folder
    std::optional<plugin_isolation> applied;                       // the limits written
  };
  std::string make_plugin(std::string_view plugin, const plugin_isolation& isolation,
                          plugin_folders& made);
  std::string apply_limits(plugin_folders& made, const plugin_isolation& isolation);

  cgroup_layout layout_;
  std::filesystem::path v2_;                                      // plughost.<pid> under v2
  std::map<std::string, std::filesystem::path, std::less<>> v1_;  // controller → plughost.<pid>
  std::map<std::string, std::unique_ptr<plugin_folders>, std::less<>> plugins_;
  std::map<std::string, int, std::less<>> taken_;  // folder names given, for uniqueness
  struct run_folder {
    std::filesystem::path path;  // the run's folder, where its processes are
    pid_t group = 0;
  };
  std::map<run_id, run_folder> runs_;
  std::map<pid_t, run_id> by_group_;
};

/// The run's processes through its cgroup where it has one (nothing escapes it), else through
/// `fallback` (its process group and its mark); the fallback also signals the group, so that
/// a run is stopped the same way whichever holds it.
std::unique_ptr<run_processes> make_cgroup_run_processes(cgroup_tree& tree,
                                                         std::unique_ptr<run_processes> fallback);

}  // namespace plughost::detail
