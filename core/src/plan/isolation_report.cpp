// What `plughost list` says of a plugin's isolation: each setting that is set, in words, so
// that an operator sees what a plugin will get before it runs (and which secrets it will not).
#include "plan/isolation_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include "config/redaction.hpp"

namespace plughost::detail {

namespace {

using report = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The limits and the process's settings, as status shows them (limits_text), without those
// defaults.yaml alone gives: "limits.nofile" and the like as one "limits" entry.
void report_limits(const plugin_isolation& iso, const plugin_isolation& builtin, report& out) {
  const auto builtins = limits_text(builtin);
  std::vector<std::string> limits;
  for (const auto& [setting, text] : limits_text(iso)) {
    if (const auto it = builtins.find(setting); it != builtins.end() && it->second == text) {
      continue;
    }
    if (setting.starts_with("limits.")) {
      limits.push_back(fmt::format("{}={}", setting.substr(7), text));
    } else {
      out.push_back({setting, {text}});
    }
  }
  if (!limits.empty()) out.push_back({"limits", std::move(limits)});
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
