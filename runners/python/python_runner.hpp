// Runs .py plugins with python3, else python, from PATH (unless a shebang says otherwise).
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class python_runner : public script_runner {
 public:
  python_runner();
  // No variables of its own: PYTHONUNBUFFERED=1 comes from plughost.environment, for every
  // plugin (a .sh plugin that runs python too), as LMCache sets it.
};

}  // namespace plughost::runners
