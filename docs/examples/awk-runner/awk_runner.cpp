// The awk runner: which files, which interpreters, which argv.
#include "awk_runner.hpp"

namespace example {

awk_runner::awk_runner() : script_runner({".awk"}, {"awk", "gawk", "mawk"}) {}

std::vector<std::string> awk_runner::command(const plughost::interpreter_choice& chosen,
                                             const std::filesystem::path& plugin) const {
  std::vector<std::string> argv{chosen.program};
  argv.insert(argv.end(), chosen.arguments.begin(), chosen.arguments.end());
  // A shebang "#!/usr/bin/awk -f" already carries the -f.
  if (argv.back() != "-f") argv.push_back("-f");
  argv.push_back(plugin.string());
  return argv;
}

}  // namespace example
