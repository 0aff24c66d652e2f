// Runs .sh plugins with bash from PATH (unless a shebang says otherwise).
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class bash_runner : public script_runner {
 public:
  bash_runner();
};

}  // namespace plughost::runners
