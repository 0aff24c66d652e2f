// plughost's cgroups (docs/isolation.md): a folder of its own in each hierarchy it uses
// ("plughost.<pid>"); below it, where processes are held, one per run (v2: "<plugin>.<run>",
// with the plugin's limits; v1 pids without v2: "<plugin>/run-<run>"), which stopping a run
// empties whatever its processes did (setsid(), double forks); and in each v1 hierarchy a
// plugin's limits need, one per plugin. One folder per run on v2 keeps the start of a plugin at
// one mkdir.
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

/// The folders a plugin's figures are read from ("" where there is none), and what its runs
/// that ended had used.
struct cgroup_folders {
  std::vector<std::string> runs;  ///< its live runs' folders: processes; CPU and memory on v2
  bool runs_v1 = false;           ///< they are v1 pids folders
  bool memory_v2 = false;         ///< the runs' folders have v2's memory controller
  std::string memory_v1;          ///< its v1 memory folder: memory and OOM kills
  std::string cpuacct_v1;         ///< its v1 cpuacct folder: CPU time
  std::uint64_t ended_cpu_usec = 0;
  std::uint64_t ended_oom_kills = 0;
  bool any() const { return !runs.empty() || !memory_v1.empty() || ended_cpu_usec > 0; }
};

/// What a plugin's cgroup uses now; nothing for folders that do not exist.
cgroup_usage read_cgroup_usage(const cgroup_folders& folders);

/// What a run's first process joins before exec (the caller closes the descriptors).
struct cgroup_join {
  int folder = -1;         ///< its v2 folder, opened O_DIRECTORY (-1: no v2)
  std::vector<int> procs;  ///< v1 cgroup.procs files it writes "0" to
};

class cgroup_tree {
 public:
  /// Makes plughost's folders (moving plughost into a leaf of its own v2 cgroup first when
  /// controllers need it). Returns null, with `problem` saying why, when it cannot.
  static std::unique_ptr<cgroup_tree> create(const cgroup_layout& layout, pid_t host,
                                             std::string& problem);
  ~cgroup_tree() { remove_folders(); }
  cgroup_tree(const cgroup_tree&) = delete;
  cgroup_tree& operator=(const cgroup_tree&) = delete;

  /// Makes run `id` of `plugin`'s folders (the plugin's with its limits, the run's), and opens
  /// what its first process joins before exec. An error text when a folder or limit cannot be
  /// made.
  std::variant<cgroup_join, std::string> prepare_run(run_id id, std::string_view plugin,
                                                     const plugin_isolation& isolation);

  /// Removes the folders that are empty (again: nothing happens to those already gone). Before
  /// the guardian is dismissed, since nobody else would remove them should plughost die after.
  void remove_folders() noexcept;

  /// The run's first process exists (its group): stop and look at it by its group.
  void started(run_id id, pid_t group);
  /// The run's exec failed: its folder goes.
  void abandon(run_id id);

  /// `signal` to every process of the run in its cgroup outside its process group `group`,
  /// which the caller signals (SIGKILL to all, through cgroup.kill where the kernel has it).
  /// False when the run has no cgroup.
  bool signal(pid_t group, int signal);
  /// Whether run of `group` is held in a cgroup.
  bool holds(pid_t group) const { return by_group_.contains(group); }
  /// Whether process `pid` is in the cgroup of the run of `group` (false without one).
  bool contains(pid_t group, pid_t pid) const;
  /// Whether a process of the run is left; nullopt when the run has no cgroup.
  std::optional<bool> alive(pid_t group) const;
  /// The run is over: what it used is added to its plugin's, and its folder goes.
  void ended(pid_t group);
  /// Whether the OOM killer ended a process of the run's plugin (in the run's folder on v2, in
  /// the plugin's v1 memory folder) since this was last asked for that plugin.
  bool oom_killed(run_id id);

  /// The plugin's folders; empty ones before its first run.
  cgroup_folders folders(std::string_view plugin) const;
  /// plughost's folders in every hierarchy (for the guardian: what is in them when the host
  /// dies is stopped; the first is where processes are held).
  std::vector<std::filesystem::path> roots() const;
  const cgroup_layout& layout() const { return layout_; }

  // The settings that have a cgroup file.
  struct cgroup_limits {
    std::optional<std::int64_t> memory_max, memory_high;
    std::optional<double> cpu_max;
    std::optional<std::int64_t> cpu_weight, pids_max;
    std::vector<int> cpus;
    gpu_access gpu = gpu_access::inherit;
    bool operator==(const cgroup_limits&) const = default;
  };
  static cgroup_limits limits_of(const plugin_isolation& i);

 private:
  explicit cgroup_tree(cgroup_layout layout) : layout_(std::move(layout)) {}
  struct plugin_folders {
    std::string name;  // the folder's name in each hierarchy
    std::map<std::string, std::filesystem::path, std::less<>> v1;  // controller → folder
    cgroup_limits applied;                                         // what its v1 folders hold
    std::vector<run_id> live;                                      // its runs that have a folder
    std::uint64_t ended_cpu_usec = 0, ended_oom_kills = 0, oom_seen = 0;
  };
  std::string make_plugin(std::string_view plugin, const plugin_isolation& isolation,
                          plugin_folders& made);
  // Writes `limits` into the v2 run folder `run` (empty: none) and the plugin's v1 folders.
  std::string apply_limits(plugin_folders& made, const std::filesystem::path& run,
                           const cgroup_limits& limits);
  std::filesystem::path run_folder_path(const plugin_folders& made, run_id id) const;

  cgroup_layout layout_;
  std::filesystem::path v2_;                                      // plughost.<pid> under v2
  std::map<std::string, std::filesystem::path, std::less<>> v1_;  // controller → plughost.<pid>
  std::map<std::string, std::unique_ptr<plugin_folders>, std::less<>> plugins_;
  std::map<std::string, int, std::less<>> taken_;  // folder names given, for uniqueness
  struct run_folder {
    std::filesystem::path path;  // the run's folder, where its processes are
    pid_t group = 0;
    plugin_folders* plugin = nullptr;
    std::uint64_t oom_seen = 0;  // v2: the run's own count
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
