// A plugin's limits in words, for status and `list`.
#include "supervision/isolation.hpp"

#include <fmt/format.h>

#include "supervision/cgroup_files.hpp"

namespace plughost::detail {

std::string size_text(std::int64_t bytes) {
  for (const auto& [unit, size] :
       {std::pair{"GiB", std::int64_t{1} << 30}, std::pair{"MiB", std::int64_t{1} << 20},
        std::pair{"KiB", std::int64_t{1} << 10}}) {
    if (bytes >= size && bytes % size == 0) return fmt::format("{}{}", bytes / size, unit);
  }
  return std::to_string(bytes);
}

std::map<std::string, std::string> limits_text(const plugin_isolation& i) {
  std::map<std::string, std::string> out;
  if (i.memory_max) out["memory_max"] = size_text(*i.memory_max);
  if (i.memory_high) out["memory_high"] = size_text(*i.memory_high);
  if (i.cpu_max) out["cpu_max"] = fmt::format("{:g}%", *i.cpu_max * 100);
  if (i.cpu_weight) out["cpu_weight"] = std::to_string(*i.cpu_weight);
  if (i.pids_max) out["pids_max"] = std::to_string(*i.pids_max);
  if (!i.cpus.empty()) out["cpus"] = cpu_list_text(i.cpus);
  if (i.nice) out["nice"] = std::to_string(*i.nice);
  if (i.oom_score_adj) out["oom_score_adj"] = std::to_string(*i.oom_score_adj);
  for (const auto& [resource, value] : i.limits) {
    const char* name = resource == RLIMIT_NOFILE  ? "nofile"
                       : resource == RLIMIT_CORE  ? "core"
                       : resource == RLIMIT_AS    ? "as"
                       : resource == RLIMIT_NPROC ? "nproc"
                                                  : "other";
    out[fmt::format("limits.{}", name)] = value == RLIM_INFINITY ? std::string("infinity")
                                          : resource == RLIMIT_AS
                                              ? size_text(static_cast<std::int64_t>(value))
                                              : std::to_string(value);
  }
  return out;
}

}  // namespace plughost::detail
