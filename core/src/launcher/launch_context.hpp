// What every launcher and `plughost modules` start from: the environment, the configuration
// documents and the modules of the search path, loaded once.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/environment.hpp"
#include "config/launch_settings.hpp"
#include "modules/module_registry.hpp"
#include "plughost/config.hpp"

namespace plughost::detail {

struct launch_context {
  /// Throws usage_error or config_error (a bad configuration or module path). `how`: modules
  /// are loaded when used, or only described from a child process (plughost modules).
  explicit launch_context(const launch_options& options,
                          module_loading how = module_loading::on_use);

  /// The warnings so far: those of the environment, the configuration and the module path, then
  /// the modules' (more of which may come as modules are loaded when used).
  std::vector<std::string> all_warnings() const;

  std::vector<std::string> warnings;  // first: filled while the members below are built
  environment_block env;
  configuration config;
  std::vector<std::filesystem::path> module_folders;
  /// Decided once, before any module loads: a reload keeps it, as it keeps the modules.
  permission_policy permissions;
  module_registry modules;
};

}  // namespace plughost::detail
