// Runs .py plugins with python3, else python, from PATH (unless a shebang says otherwise).
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class python_runner : public script_runner {
 public:
  python_runner();
};

}  // namespace plughost::runners
