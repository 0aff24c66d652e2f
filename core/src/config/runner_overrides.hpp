// What the configuration says about one runner (plughost.runners.<name>), for the plan.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace plughost::detail {

struct runner_overrides {
  std::optional<std::string> interpreter;  ///< replaces the defaults: a path or a name on PATH
  std::vector<std::string> args;           ///< after the configured or default interpreter
};

}  // namespace plughost::detail
