// Where modules are looked for: --module-path, PLUGHOST_MODULE_PATH, plughost.module_locations,
// then the modules folder of the installation.
#include <fmt/format.h>

#include <algorithm>

#include "config/installation.hpp"
#include "config/settings_parts.hpp"

namespace plughost::detail {

namespace fs = std::filesystem;

std::vector<fs::path> module_search_path(const launch_options& options,
                                         const environment_block& env, const configuration& config,
                                         std::vector<std::string>& warnings) {
  std::vector<fs::path> out;
  const auto cwd = fs::current_path();
  auto add = [&](fs::path p, const std::string& origin) {
    if (p.is_relative()) p = cwd / p;
    p = p.lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      warnings.push_back(
          fmt::format("module folder {} (from {}) does not exist", p.string(), origin));
    }
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const auto& p : options.module_paths) add(p, "--module-path");
  if (const auto var = env.get("PLUGHOST_MODULE_PATH")) {
    std::string_view rest = *var;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const auto entry = rest.substr(0, colon);
      if (!entry.empty()) add(fs::path(entry), "PLUGHOST_MODULE_PATH");
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  for (const auto& p : paths_from(pick(config, "module_locations"), "plughost.module_locations")) {
    add(p, "plughost.module_locations");
  }
  if (const auto dir = module_dir()) {
    if (std::find(out.begin(), out.end(), *dir) == out.end()) out.push_back(*dir);
  }
  return out;
}

}  // namespace plughost::detail
