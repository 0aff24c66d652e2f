// What one plugin may use and see (docs/isolation.md): its cgroup limits, CPUs, priority,
// resource limits, GPUs, environment, working folder, arguments, user, credentials and the keys
// of LMCache's configuration it does not receive. Resolved from the configuration
// (config/isolation_settings.cpp), carried by each launch_item, applied by the launcher (the
// environment, the arguments, the configuration JSON) and by the spawn (everything else).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace plughost::detail {

/// gpu: inherit (LMCache's behaviour: the plugin sees what plughost sees), none (every GPU
/// hidden), or a list of devices (the visibility variables set to it).
enum class gpu_access { inherit, none, list };

/// The setting names, as the configuration spells them: the one list the parser, `list`, the
/// warnings and docs/isolation.md agree on.
struct plugin_isolation {
  // ---- the plugin's cgroup (docs/isolation.md: v2, v1, none) ------------------------------
  std::optional<std::int64_t> memory_max;   ///< bytes
  std::optional<std::int64_t> memory_high;  ///< bytes
  /// cpu_max: the share of one core, 0.5 for "50%" (more than 1: several cores).
  std::optional<double> cpu_max;
  std::optional<std::int64_t> cpu_weight;  ///< 1 to 10000 (cgroup v2's scale; 100 is the default)
  std::optional<std::int64_t> pids_max;
  /// cpus: the CPUs it may run on, resolved ("housekeeping" replaced by
  /// plughost.housekeeping_cpus) and intersected with the CPUs plughost may use; empty: not set.
  std::vector<int> cpus;

  // ---- the process ------------------------------------------------------------------------
  std::optional<int> nice;  ///< -20 to 19
  /// oom_score_adj, -1000 to 1000: never below plughost's own score (the spawn keeps the higher
  /// of the two), so that a plugin never outlives the engine under memory pressure.
  std::optional<int> oom_score_adj;
  /// limits: {nofile, core, as, nproc}: (RLIMIT_*, value), soft and hard limit alike.
  std::vector<std::pair<int, rlim_t>> limits;
  std::optional<std::filesystem::path> working_dir;  ///< absolute
  /// user/group (plughost runs as root): the ids the plugin runs as, its supplementary groups
  /// (the user's, from the group database) and the user's name and home (USER, LOGNAME, HOME).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
  std::string user_name;
  std::string home;

  // ---- what it receives (applied by the launcher into argv and the environment) ------------
  gpu_access gpu = gpu_access::inherit;
  std::string gpu_list;                                  ///< gpu: LIST, as "0,1"
  std::vector<std::pair<std::string, std::string>> env;  ///< identity placeholders filled in
  std::vector<std::string> env_remove;                   ///< glob patterns of variable names
  std::vector<std::string> args;                         ///< after the plugin's own argv
  /// credentials: {NAME: FILE}: each FILE copied to $CREDENTIALS_DIRECTORY/NAME for each run.
  std::vector<std::pair<std::string, std::filesystem::path>> credentials;
  /// redact: dotted key patterns (each part a glob) removed from its configuration JSON.
  std::vector<std::string> redact;

  bool operator==(const plugin_isolation&) const = default;

  /// Whether a cgroup controller is asked for (memory, cpu, pids, cpuset).
  bool wants_controllers() const {
    return memory_max || memory_high || cpu_max || cpu_weight || pids_max || !cpus.empty();
  }
};

/// What a plugin may use, as status and `list` show it: memory_max, memory_high, cpu_max,
/// cpu_weight, pids_max, cpus, nice, oom_score_adj, limits.nofile... (those that are set), by
/// name, as text ("128MiB", "50%", "0-3").
std::map<std::string, std::string> limits_text(const plugin_isolation& isolation);

/// A size as the configuration writes it: "128MiB" when whole, else bytes.
std::string size_text(std::int64_t bytes);

/// The variables GPU runtimes read to choose their devices (CUDA, ROCm/HIP, Intel Level Zero,
/// Ascend, Habana): gpu: none sets each to "", gpu: LIST to the list.
inline constexpr const char* gpu_visibility_variables[] = {
    "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",       "ROCR_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",   "ASCEND_RT_VISIBLE_DEVICES", "HABANA_VISIBLE_MODULES"};

}  // namespace plughost::detail
