// What `plughost list` says of a plugin's isolation: each setting that is set, in words, so
// that an operator sees what a plugin will get before it runs (and which secrets it will not).
#include "plan/isolation_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include <algorithm>

#include "config/isolation_values.hpp"
#include "config/redaction.hpp"

namespace plughost::detail {

std::string size_text(std::int64_t bytes) {
  for (const auto& [unit, size] :
       {std::pair{"GiB", std::int64_t{1} << 30}, std::pair{"MiB", std::int64_t{1} << 20},
        std::pair{"KiB", std::int64_t{1} << 10}}) {
    if (bytes >= size && bytes % size == 0) return fmt::format("{}{}", bytes / size, unit);
  }
  return fmt::format("{}B", bytes);
}

namespace {

using report = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The limits and the process's settings.
void report_limits(const plugin_isolation& iso, const plugin_isolation& builtin, report& out) {
  const auto add = [&](const char* setting, const auto& mine, const auto& theirs, auto text) {
    if (mine && mine != theirs) out.push_back({setting, {text(*mine)}});
  };
  add("memory_max", iso.memory_max, builtin.memory_max, size_text);
  add("memory_high", iso.memory_high, builtin.memory_high, size_text);
  add("cpu_max", iso.cpu_max, builtin.cpu_max,
      [](double share) { return fmt::format("{}%", share * 100); });
  const auto number = [](auto n) { return fmt::format("{}", n); };
  add("cpu_weight", iso.cpu_weight, builtin.cpu_weight, number);
  add("pids_max", iso.pids_max, builtin.pids_max, number);
  if (!iso.cpus.empty() && iso.cpus != builtin.cpus)
    out.push_back({"cpus", {cpu_list_text(iso.cpus)}});
  add("nice", iso.nice, builtin.nice, number);
  add("oom_score_adj", iso.oom_score_adj, builtin.oom_score_adj, number);
  if (!iso.limits.empty() && iso.limits != builtin.limits) {
    std::vector<std::string> limits;
    for (const auto& [resource, value] : iso.limits) {
      const bool bytes = resource == RLIMIT_AS || resource == RLIMIT_CORE;
      limits.push_back(fmt::format("{}={}", limit_name(resource),
                                   value == RLIM_INFINITY ? std::string("infinity")
                                   : bytes ? size_text(static_cast<std::int64_t>(value))
                                           : std::to_string(value)));
    }
    out.push_back({"limits", std::move(limits)});
  }
}

// What it receives: GPUs, environment, arguments, folder, user, credentials.
void report_received(const plugin_isolation& iso, const environment_block& host, report& out) {
  if (iso.gpu != gpu_access::inherit) {
    out.push_back({"gpu", {iso.gpu == gpu_access::none ? "none" : iso.gpu_list}});
  }
  std::vector<std::string> env;
  for (const auto& [name, value] : iso.env) env.push_back(fmt::format("set {}={}", name, value));
  for (const auto& pattern : iso.env_remove) {
    std::vector<std::string> names;
    for (const auto& entry : host.entries()) {
      const auto name = entry.substr(0, entry.find('='));
      if (!plughost_variable(name) && ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
        names.push_back(name);
      }
    }
    env.push_back(names.empty() ? fmt::format("remove {} (no inherited variable)", pattern)
                                : fmt::format("remove {} ({})", pattern, fmt::join(names, ", ")));
  }
  if (!env.empty()) out.push_back({"env", std::move(env)});
  if (!iso.args.empty()) out.push_back({"args", iso.args});
  if (iso.working_dir) out.push_back({"working_dir", {iso.working_dir->string()}});
  if (iso.uid) {
    out.push_back({"user",
                   {fmt::format("{} (uid {}, gid {})", iso.user_name, *iso.uid,
                                iso.gid ? static_cast<long>(*iso.gid) : -1L)}});
  } else if (iso.gid) {
    out.push_back({"group", {fmt::format("gid {}", *iso.gid)}});
  }
  std::vector<std::string> names;  // never what they hold
  for (const auto& [name, file] : iso.credentials) names.push_back(name);
  if (!names.empty()) out.push_back({"credentials", std::move(names)});
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> isolation_report(
    const std::string& plugin, const launch_settings& settings, const environment_block& host) {
  const auto& iso = settings.isolation_for(plugin);
  report out;
  report_limits(iso, settings.builtin_isolation, out);
  report_received(iso, host, out);
  if (!iso.redact.empty()) {
    std::vector<std::string> keys;
    redacted_config(settings.plugin_config_json, iso.redact, &keys);
    if (keys.empty())
      keys.push_back(fmt::format("none ({} match no key)", fmt::join(iso.redact, ", ")));
    out.push_back({"redact", std::move(keys)});
  }
  return out;
}

}  // namespace plughost::detail
