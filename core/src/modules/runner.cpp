// Default behaviour of the runner interface and the extension-based script_runner.
#include "plughost/runner.hpp"

#include <algorithm>

namespace plughost {

bool runner::claims(const std::filesystem::path& file) const {
  const auto ext = file.extension().string();
  if (ext.empty()) return false;
  const auto exts = extensions();
  return std::find(exts.begin(), exts.end(), ext) != exts.end();
}

std::vector<std::string> runner::command(const interpreter_choice& chosen,
                                         const std::filesystem::path& plugin) const {
  std::vector<std::string> argv{chosen.program};
  argv.insert(argv.end(), chosen.arguments.begin(), chosen.arguments.end());
  argv.push_back(plugin.string());
  return argv;
}

std::vector<std::pair<std::string, std::string>> runner::environment(
    const std::filesystem::path&) const {
  return {};
}

script_runner::script_runner(std::vector<std::string> extensions,
                             std::vector<std::string> interpreters)
    : extensions_(std::move(extensions)), interpreters_(std::move(interpreters)) {}

}  // namespace plughost
