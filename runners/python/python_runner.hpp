// Runs .py plugins with python3, else python, from PATH (unless a shebang says otherwise).
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class python_runner : public script_runner {
 public:
  python_runner();

  /// PYTHONUNBUFFERED=1: a plugin's stdout is a pipe, which Python would buffer by the block,
  /// so that its lines would reach the sinks late (or, for one that is killed, never).
  std::vector<std::pair<std::string, std::string>> environment(
      const std::filesystem::path& plugin) const override;
};

}  // namespace plughost::runners
