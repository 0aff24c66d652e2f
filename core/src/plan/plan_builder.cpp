// Building the plan: for each file found, which runner claims it, whether the naming rules
// select it, whether it may run (owner and mode, as root), and which argv runs it. Calls into
// runner modules are guarded here.
#include "plan/plan_builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "config/setting_values.hpp"
#include "plan/discovery.hpp"
#include "plan/interpreter.hpp"
#include "plan/isolation_report.hpp"
#include "plan/naming.hpp"

namespace plughost::detail {

namespace {

// The PATH execvp uses when the variable is unset.
constexpr std::string_view fallback_path = "/usr/local/bin:/usr/bin:/bin";

// The first runner (in search order) among the enabled ones, or else among the others, that
// claims the file.
const loaded_runner* claiming_runner(const std::vector<loaded_runner>& runners,
                                     const std::filesystem::path& file,
                                     std::vector<std::string>& warnings) {
  for (const bool enabled : {true, false}) {
    for (const auto& r : runners) {
      if (r.enabled != enabled || !r.impl) continue;
      try {
        if (r.impl->claims(file)) return &r;
      } catch (const std::exception& e) {
        warnings.push_back(
            fmt::format("runner {} failed in claims({}): {}", r.name, file.string(), e.what()));
      }
    }
  }
  return nullptr;
}

// "'.py' files", or "files without an extension": what a runner was seen to claim.
std::string claimed_kind(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  return ext.empty() ? std::string("files without an extension") : fmt::format("'{}' files", ext);
}

// The names of the runners that are enabled (or, with `enabled` false, of those not loaded).
std::vector<std::string> names_of(const std::vector<loaded_runner>& runners, bool enabled) {
  std::vector<std::string> out;
  for (const auto& r : runners) {
    if (enabled ? r.enabled : !r.impl) out.push_back(r.name);
  }
  return out;
}

}  // namespace

std::vector<loaded_runner> load_runners(const launch_settings& settings,
                                        std::vector<std::string>& warnings) {
  std::vector<loaded_runner> out;
  for (const auto& r : settings.runners) {
    if (!r.module) {
      out.push_back({r.name, nullptr, r.overrides, false});
      continue;
    }
    try {
      out.push_back({r.name, create_runner(*r.module, r.values), r.overrides, r.enabled});
    } catch (const module_error& e) {
      if (r.enabled) warnings.push_back(fmt::format("runner not available: {}", e.what()));
    }
  }
  return out;
}

const loaded_runner* find_runner(const std::vector<loaded_runner>& runners, std::string_view name) {
  for (const auto& r : runners) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

namespace {

// A plughost.plugins entry whose name matches no file found is most likely a typo: say so, with
// the nearest name. A warning, not an error: the file may come later, with a reload.
void warn_of_entries_for_no_plugin(const launch_settings& settings, plan& out) {
  std::vector<std::string> names;
  for (const auto& p : out.plugins) names.push_back(p.name);
  for (const auto& [entry, at] : settings.plugin_entries_at) {
    if (std::find(names.begin(), names.end(), entry) != names.end()) continue;
    const auto nearest = nearest_key(entry, names);
    out.warnings.push_back(
        fmt::format("{}: plughost.plugins.{} names no plugin found{}", at, entry,
                    nearest ? fmt::format(" (did you mean {}?)", *nearest) : std::string()));
  }
}

// The runners as the plan shows them: name, extensions, enabled, loaded.
void plan_runners(const std::vector<loaded_runner>& runners, plan& out) {
  for (const auto& r : runners) {
    std::vector<std::string> extensions;
    try {
      if (r.impl) extensions = r.impl->extensions();
    } catch (const std::exception& e) {
      out.warnings.push_back(fmt::format("runner {} failed in extensions(): {}", r.name, e.what()));
    }
    out.runners.push_back({r.name, std::move(extensions), r.enabled, r.impl != nullptr});
  }
}

// Which runner each file offered was claimed by, for the reasons the plan gives.
struct claims {
  std::map<std::filesystem::path, const loaded_runner*> claimed;
  std::map<std::filesystem::path, const loaded_runner*> claimed_by_disabled;
  std::set<std::filesystem::path> unclaimed;
};

// Each file is offered to the runners once: the one that claims it is kept for the plan.
// A file only a runner that is not enabled claims is ignored, and the reason names that runner.
// A file no runner claims may be one a runner that is not loaded would have claimed.
discovery_result discover_claimed(const launch_settings& settings,
                                  const std::vector<loaded_runner>& runners, claims& c,
                                  std::vector<std::string>& warnings) {
  auto found = discover(settings.locations, [&](const std::filesystem::path& file) {
    const auto* r = claiming_runner(runners, file, warnings);
    if (r && !r->enabled) {
      c.claimed_by_disabled[file] = r;
      return false;
    }
    if (r) c.claimed[file] = r;
    if (!r) c.unclaimed.insert(file);
    return r != nullptr;
  });
  warnings.insert(warnings.end(), found.warnings.begin(), found.warnings.end());
  return found;
}

// A file found that is no plugin: why it is ignored, skipped, or (named as a location) an error.
void plan_not_a_plugin(plugin_plan& p, std::string ignored_reason, const claims& c,
                       const std::vector<loaded_runner>& runners, const launch_settings& settings) {
  p.decision = decision::ignored;
  p.reason = std::move(ignored_reason);
  const auto not_loaded = names_of(runners, false);
  if (const auto it = c.claimed_by_disabled.find(p.path); it != c.claimed_by_disabled.end()) {
    p.reason = fmt::format("runner {} claims {} but is not enabled (enabled runners: {})",
                           it->second->name, claimed_kind(p.path),
                           fmt::join(names_of(runners, true), ", "));
  } else if (c.unclaimed.count(p.path) && !not_loaded.empty()) {
    p.reason = fmt::format(
        "no enabled runner claims {} (enabled runners: {}; not enabled, so not loaded: {})",
        claimed_kind(p.path), fmt::join(names_of(runners, true), ", "),
        fmt::join(not_loaded, ", "));
  }
  // A file named as a location is meant to run: that no runner runs it is an error (LMCache
  // logs "Failed to launch plugin …: Plugin type .txt not supported"), unless the naming
  // rules would not have run it here anyway.
  if (p.path == p.location && (c.unclaimed.count(p.path) || c.claimed_by_disabled.count(p.path))) {
    if (auto sel = select_plugin(p.path.filename().string(), settings.who); !sel.run) {
      p.decision = decision::skip;
      p.reason = std::move(sel.reason);
    } else {
      p.decision = decision::error;
      p.reason += ": it is named as a location, so it was meant to run";
    }
  }
}

// The argv runner `r` gives for the plugin, once its interpreter is chosen; or why not.
void plan_command(plugin_plan& p, const loaded_runner& r, std::string_view path_var,
                  std::vector<std::string>& warnings) {
  auto res = resolve_interpreter(*r.impl, r.name, p.path, path_var, r.overrides);
  warnings.insert(warnings.end(), res.warnings.begin(), res.warnings.end());
  if (!res.chosen) {
    p.decision = decision::error;
    p.reason = std::move(res.error);
    return;
  }
  try {
    p.argv = r.impl->command(*res.chosen, p.path);
    if (p.argv.empty()) throw std::runtime_error("it returned an empty argv");
    p.decision = decision::run;
    p.reason += fmt::format("; runner {} claims {}", r.name, claimed_kind(p.path));
  } catch (const std::exception& e) {
    p.decision = decision::error;
    p.reason = fmt::format("runner {} failed in command(): {}", r.name, e.what());
    p.argv.clear();
  }
}

// A plugin a runner claims: disabled, not selected by the naming rules, refused for its owner
// or mode, or run with the argv its runner gives.
void plan_plugin(plugin_plan& p, const loaded_runner& r, const launch_settings& settings,
                 const environment_block& host, const permission_policy& permissions,
                 std::string_view path_var, std::vector<std::string>& warnings) {
  p.runner = r.name;
  if (!settings.policy_for(p.name).enabled) {
    p.decision = decision::skip;
    p.reason = fmt::format("disabled by plughost.plugins.{}.enabled", p.name);
    return;
  }
  auto sel = select_plugin(p.path.filename().string(), settings.who);
  p.reason = std::move(sel.reason);
  if (!sel.run) {
    p.decision = decision::skip;
    return;
  }
  // Before its first line is read: as root, a file someone else could have written is not run.
  // (A file location is not above the file: its own folder is checked, and no further.)
  if (permissions.check) {
    if (auto problem = check_permissions(p.path, p.location, permissions.trusted_uid);
        !problem.empty()) {
      p.decision = decision::error;
      p.reason = "refused: " + problem;
      return;
    }
  }
  plan_command(p, r, path_var, warnings);
  // Its args after the runner's argv, here rather than at the spawn: `list` shows what runs.
  if (p.decision == decision::run) {
    const auto& args = settings.isolation_for(p.name).args;
    p.argv.insert(p.argv.end(), args.begin(), args.end());
    p.isolation = isolation_report(p.name, settings, host);
    p.waits_for = describe_waits(settings.policy_for(p.name));
  }
}

}  // namespace

plan build_plan(const launch_settings& settings, const std::vector<loaded_runner>& runners,
                const environment_block& env, const permission_policy& permissions) {
  plan out;
  out.identity = settings.who;
  out.warnings = settings.warnings;
  out.locations = settings.locations;
  out.locations_from = settings.locations_from;
  plan_runners(runners, out);
  const auto path_var = env.get("PATH").value_or(fallback_path);
  claims c;
  auto found = discover_claimed(settings, runners, c, out.warnings);
  for (auto& f : found.files) {
    plugin_plan p;
    p.name = std::move(f.name);
    p.path = std::move(f.path);
    p.location = std::move(f.location);
    if (!f.error.empty()) {
      p.decision = decision::error;
      p.reason = std::move(f.error);
    } else if (!f.plugin) {
      plan_not_a_plugin(p, std::move(f.ignored_reason), c, runners, settings);
    } else {
      plan_plugin(p, *c.claimed.at(p.path), settings, env, permissions, path_var, out.warnings);
    }
    out.plugins.push_back(std::move(p));
  }
  warn_of_entries_for_no_plugin(settings, out);
  return out;
}

}  // namespace plughost::detail
