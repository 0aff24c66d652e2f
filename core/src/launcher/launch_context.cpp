// Loading what every launcher starts from, in order: environment, configuration, whether files
// are checked before they run or load, modules.
#include "launcher/launch_context.hpp"

#include <unistd.h>

namespace plughost::detail {

launch_context::launch_context(const launch_options& o, module_loading how)
    : env(o.environment ? environment_block(*o.environment) : environment_block::current()),
      config(load_configuration(o, env)),
      module_folders(module_search_path(o, env, config, warnings)),
      permissions(resolve_permission_policy(o, config, ::geteuid(), warnings)),
      modules(module_registry::load(module_folders, permissions, how)) {}

std::vector<std::string> launch_context::all_warnings() const {
  auto out = warnings;
  const auto more = modules.warnings();
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

}  // namespace plughost::detail
