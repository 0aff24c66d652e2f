// The naming rules (docs/discovery-naming-interpreters.md): which plugins run for this role and
// worker, and why.
#pragma once

#include <string>
#include <string_view>

#include "plughost/config.hpp"

namespace plughost::detail {

struct selection {
  bool run = false;
  std::string reason;  ///< always set: "requires role SCHEDULER", "runs on role WORKER", ...
};

/// Applies the rules to a plugin's file name (the name without folders, e.g. "worker_0_x.sh").
selection select_plugin(std::string_view file_name, const identity& who);

}  // namespace plughost::detail
