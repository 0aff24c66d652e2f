// Runs Node.js plugins (.js, .mjs, .cjs) with node or nodejs, unless a shebang says otherwise.
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class node_runner : public script_runner {
 public:
  node_runner();
};

}  // namespace plughost::runners
