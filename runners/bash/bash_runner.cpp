// The bash runner: .sh files, run with bash as LMCache does.
#include "bash_runner.hpp"

namespace plughost::runners {

bash_runner::bash_runner() : script_runner({".sh"}, {"bash"}) {}

}  // namespace plughost::runners
