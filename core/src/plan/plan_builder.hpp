// Discovery → selection → resolution: the pipeline up to (not including) the supervisor.
// `plughost list` prints its result and `plughost run` starts it, so the two cannot disagree.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/environment.hpp"
#include "common/permissions.hpp"
#include "config/launch_settings.hpp"
#include "modules/module_registry.hpp"
#include "plughost/launcher.hpp"
#include "plughost/runner.hpp"

namespace plughost::detail {

/// A runner module instantiated for this launcher (it keeps its module loaded).
struct loaded_runner {
  std::string name;
  std::shared_ptr<runner> impl;  ///< null when its module was not loaded (not enabled)
  runner_overrides overrides;
  bool enabled = true;  ///< false: only says why the files it claims are ignored
};

/// Creates one instance of every runner whose module is loaded, in search order (the others are
/// kept by name, to be listed). A module whose factory fails is left out, with a warning naming
/// it when the runner is enabled.
std::vector<loaded_runner> load_runners(const launch_settings& settings,
                                        std::vector<std::string>& warnings);

/// Builds the plan. Never throws for a single plugin's problems: they become its decision.
/// With `permissions.check`, a selected plugin that fails the owner and mode checks (the file
/// and its folders up to its location) is an error, "refused: …".
plan build_plan(const launch_settings& settings, const std::vector<loaded_runner>& runners,
                const environment_block& env, const permission_policy& permissions);

/// The runner named `name`, or nullptr.
const loaded_runner* find_runner(const std::vector<loaded_runner>& runners, std::string_view name);

}  // namespace plughost::detail
