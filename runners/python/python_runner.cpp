// The python runner: .py files; python3 first (LMCache tries python first, but on current
// distributions "python" is often missing or Python 2), then python.
#include "python_runner.hpp"

namespace plughost::runners {

python_runner::python_runner() : script_runner({".py"}, {"python3", "python"}) {}

}  // namespace plughost::runners
