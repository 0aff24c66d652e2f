// Runs Perl plugins (.pl) with perl, unless a shebang says otherwise.
#pragma once

#include "plughost/runner.hpp"

namespace plughost::runners {

class perl_runner : public script_runner {
 public:
  perl_runner();
};

}  // namespace plughost::runners
